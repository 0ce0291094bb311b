"""Can a model's image pathway place an object on the table? A linear probe on recorded simulator scenes.

The closed-loop policy must reach a target a few centimetres wide. Whatever the language model learns, it reads the
scene through the vision tower's output pooled to its image tokens; if no linear map of those tokens puts an object
within a few centimetres, a policy trained through them cannot either, short of a much longer training. Measured on
the first frame of episodes `vlm2vla sim record` wrote (their `sim_scene.json` holds every object's position):
for each object in enough scenes, ridge regression (the penalty chosen by leave-one-out within the training folds)
from the pooled features to the object's (x, y), cross-validated over scenes. The image's own colours pooled to
the same grid are the reference ("pixels"): a tower that does worse than them hides what the image shows.

Issue 20 used it to show that the embedded model's random tower places the small training objects only to 3-6 cm.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from harness.sim.record import SCENE_FILE

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel

ALPHAS = np.logspace(-2, 5, 15)


@dataclass(frozen=True)
class Placement:
    features: str  # "tower" (the model's pooled image tokens before the projector) or "pixels"
    target: str  # object name
    n: int  # scenes that hold it
    median_error_cm: float  # cross-validated, over those scenes
    spread_cm: float  # median distance of its positions from their mean (what "no idea where" scores)


def first_frames(raw_dir: str | Path, limit: int | None = None) -> list[tuple[Path, dict[str, tuple[float, float]]]]:
    """(first frame, object -> (x, y) in metres) of every recorded episode under `raw_dir`, in path order."""
    scenes = sorted(Path(raw_dir).rglob(SCENE_FILE))[:limit]
    if not scenes:
        raise FileNotFoundError(f"{raw_dir}: no recorded episodes ({SCENE_FILE}); record some with "
                                "`vlm2vla sim record --task pickup --episodes 100 --out DIR`")
    out = []
    for path in scenes:
        frame = path.parent / "images0" / "im_0.jpg"
        if frame.is_file():
            positions = json.loads(path.read_text())["scene"]["positions"]
            out.append((frame, {k: (float(v[0]), float(v[1])) for k, v in positions.items()}))
    return out


def _pooled(grid: np.ndarray, side: int) -> np.ndarray:
    """(n, channels, H, W) averaged over side x side cells, flattened: what Gemma-3's projector pools."""
    n, c, h, w = grid.shape
    return grid.reshape(n, c, side, h // side, side, w // side).mean((3, 5)).reshape(n, -1)


def ridge_cv_predict(x: np.ndarray, y: np.ndarray, folds: int = 5, alphas: np.ndarray = ALPHAS) -> np.ndarray:
    """Out-of-fold predictions of ridge regression x -> y; each fold's penalty is the one with the least
    leave-one-out error on its training part (kernel form: n scenes << feature count)."""
    n = len(x)
    pred = np.empty_like(y, dtype=np.float64)
    order = np.arange(n)
    for test in np.array_split(order, folds):
        train = np.setdiff1d(order, test)
        x_mean, y_mean = x[train].mean(0), y[train].mean(0)
        xt, yt = x[train] - x_mean, y[train] - y_mean
        s, u = np.linalg.eigh(xt @ xt.T)
        uty = u.T @ yt
        best = None
        for a in alphas:
            d = 1.0 / (np.maximum(s, 0.0) + a)
            coef = u @ (d[:, None] * uty)
            loo = ((coef / ((u**2) @ d)[:, None]) ** 2).sum()  # residual i = coef_i / [(K + aI)^-1]_ii
            if best is None or loo < best[0]:
                best = (loo, coef)
        pred[test] = (x[test] - x_mean) @ xt.T @ best[1] + y_mean
    return pred


def locate(loaded: LoadedModel, raw_dir: str | Path, *, limit: int | None = None, min_scenes: int = 50,
           folds: int = 5) -> list[Placement]:
    """Placements of every object in at least `min_scenes` of the recorded scenes, for the tower and the pixels."""
    import torch

    frames = first_frames(raw_dir, limit)
    counts = Counter(name for _, positions in frames for name in positions)
    targets = sorted(name for name, c in counts.items() if c >= min_scenes)
    if not targets:
        raise ValueError(f"{raw_dir}: no object is in {min_scenes} of the {len(frames)} scenes read; record more "
                         "episodes or pass a smaller --min-scenes")
    tower = loaded.base_model().model.vision_tower
    side = int(round(loaded.base_model().config.mm_tokens_per_image ** 0.5))
    features: dict[str, list[np.ndarray]] = {"tower": [], "pixels": []}
    with torch.no_grad():
        for start in range(0, len(frames), 16):
            images = [Image.open(frame).convert("RGB") for frame, _ in frames[start:start + 16]]
            pixels = loaded.processor.image_processor(images, return_tensors="pt")["pixel_values"]
            out = tower(pixel_values=pixels.to(loaded.device, next(tower.parameters()).dtype)).last_hidden_state
            n, patches, width = out.shape
            per_side = int(round(patches**0.5))
            grid = out.float().transpose(1, 2).reshape(n, width, per_side, per_side).cpu().numpy()
            features["tower"].append(_pooled(grid, side))
            features["pixels"].append(_pooled(pixels.float().numpy(), side))
    out_rows = []
    for name, parts in features.items():
        x = np.concatenate(parts).astype(np.float64)
        for target in targets:
            rows = [i for i, (_, positions) in enumerate(frames) if target in positions]
            y = np.array([frames[i][1][target] for i in rows])
            pred = ridge_cv_predict(x[rows], y, folds)
            out_rows.append(Placement(name, target, len(rows),
                                      float(np.median(np.linalg.norm(pred - y, axis=1)) * 100),
                                      float(np.median(np.linalg.norm(y - y.mean(0), axis=1)) * 100)))
    return out_rows
