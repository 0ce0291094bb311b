"""Deterministic figures: one fixed style, no pyplot state, no timestamps or version strings in the files.

Figures are built on `matplotlib.figure.Figure` (Agg canvas, never a GUI backend) inside an rc context that starts
from matplotlib's defaults, so a user's matplotlibrc cannot change the output. PNG and PDF metadata that would vary
(software version, creation dates) are removed; the same data therefore gives byte-identical files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import matplotlib as mpl
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.records.atomic import atomic_path
from harness.reports.naming import model_key

DPI = 150
PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}
FORMATS = ("png", "pdf")

# Paper numbers are drawn hatched and lighter, ours solid: the legend says which is which.
PAPER_HATCH = "//"
PAPER_ALPHA = 0.55


def _style() -> dict:
    rc = dict(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("paper", font_scale=1.1))
    rc.update({
        "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs on every machine
        "pdf.fonttype": 42,  # TrueType, editable text in papers
        "svg.hashsalt": "vlm2vla-reports",
        "svg.fonttype": "none",
        "axes.titlesize": "medium",
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": None,
        "path.simplify": True,
    })
    return rc


@contextlib.contextmanager
def style() -> Iterator[None]:
    with mpl.rc_context():
        mpl.rcdefaults()
        mpl.rcParams.update(_style())
        yield


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out_stem: Path) -> list[Path]:
    """Write `<stem>.png` and `<stem>.pdf`; returns the paths."""
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out_stem.with_suffix(f".{fmt}")
        metadata = PNG_METADATA if fmt == "png" else PDF_METADATA
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=metadata, dpi=DPI)
        paths.append(path)
    return paths


# Colour-blind palette index per known model; the untuned base is grey (it is the reference everything is read
# against). Unknown models take the remaining colours in name order.
_MODEL_COLOUR = {"vlm2vla": 0, "openvla": 1, "vlm2vla-at": 2, "gemma3-270m": 3, "ecot": 4, "tiny": 5, "oracle": 8}
_BASE_GREY = (0.55, 0.55, 0.55)


def model_palette(models: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """One colour per model, the same in every figure."""
    colours = sns.color_palette("colorblind", n_colors=10)
    out = {"gemma3-base": _BASE_GREY}
    out.update({name: colours[i] for name, i in _MODEL_COLOUR.items()})
    free = [i for i in range(len(colours)) if i not in _MODEL_COLOUR.values() and i != 7]  # 7 is grey too
    others = sorted(set(models) - out.keys(), key=model_key)
    for k, name in enumerate(others):
        out[name] = colours[free[k % len(free)]]
    return out


def palette(names: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    names = list(dict.fromkeys(names))
    colours = sns.color_palette("colorblind", n_colors=max(len(names), 10))
    return {name: colours[i] for i, name in enumerate(names)}
