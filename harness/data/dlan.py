"""D_lan on disk: the verbalized dataset every training, mechanism and evaluation job reads.

Layout of a D_lan directory (`datasets.load_dataset(<dir>)` loads both splits: the card's YAML header declares
them; or pass `data_files=hf_data_files(<dir>)`. `data_dir=<dir>/data` alone would drop the `heldout-*` shards,
because `datasets` infers splits from file names and knows no split called heldout):

    <dir>/data/<split>-<shard>.parquet   one row per training example (columns = `DlanExample` fields)
    <dir>/images/<episode>/<name>.jpg    observation images; rows hold paths relative to <dir>
    <dir>/README.md                      dataset card (counts, skipped episodes and reasons, lengths, annotator)

Action targets are stored in a model-independent form: the verbalized text, and the least-likely representation as
a digit string (`LeastLikelyCodec.encode_digits`) that becomes token ids only once a model's 10 tokens are chosen.
So both representations come from one decomposition and differ only in how the chunk is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from harness.paths import results_dir
from harness.records.atomic import atomic_path

SPLITS = ("train", "heldout")


def default_dlan_dir() -> Path:
    """Where `vlm2vla data build` writes D_lan and the data commands look for it unless told otherwise."""
    return results_dir() / "data" / "dlan"


@dataclass
class DlanExample:
    example_id: str  # unique and stable: f"{episode_id}/{stage}/{index}"
    episode_id: str  # stable id of the source episode (e.g. its relative path)
    split: str  # train | heldout
    stage: str  # subtasks | plan | action | completion | direction (see harness.data.templates)
    step_index: int  # sub-task index i; -1 for episode-level examples (subtasks)
    instruction: str
    subtask: str  # l_i ('' for subtasks / direction examples)
    plan: str  # m_i ('' where not applicable)
    prompt: str  # the exact prompt text (templates.<stage>_prompt(...).text)
    target: str  # the target text; for stage 'action' the verbalized chunk
    action_digits: str  # stage 'action': least-likely digits of the same chunk ('' otherwise)
    chunk_json: str  # stage 'action': JSON [[dx, dy, dz, gripper], ...] metres ('' otherwise)
    images: list[str]  # paths relative to the D_lan directory, in prompt order
    annotator: str  # rules | gemini | gemini->rules (fallback)

    def target_for(self, representation: str) -> str:
        """Target text for a representation type ('verbalized' or 'least_likely' digits)."""
        if self.stage == "action" and representation == "least_likely":
            return self.action_digits
        return self.target


COLUMNS = [f.name for f in fields(DlanExample)]


def write_shard(examples: Iterable[DlanExample], path: str | Path) -> Path:
    """Write one parquet shard atomically (temporary file, then rename): a killed build leaves no torn shard."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([{c: getattr(e, c) for c in COLUMNS} for e in examples], columns=COLUMNS)  # no deep copy
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def shard_paths(root: str | Path, split: str | None = None) -> list[Path]:
    root = Path(root)
    pattern = f"{split}-*.parquet" if split else "*.parquet"
    return sorted((root / "data").glob(pattern))


def read_frame(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One shard as a DataFrame, read on the calling thread. Arrow's background reader threads (pre-buffering)
    are reported to abort short scripts at exit now and then ('terminate called without an active exception',
    apache/arrow#34314; seen once here); shards are small, so nothing is lost by not using them."""
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=columns, use_threads=False, pre_buffer=False).to_pandas()


def hf_data_files(root: str | Path) -> dict[str, list[str]]:
    """`data_files` for `datasets.load_dataset("parquet", data_files=...)`: the shards of each split present."""
    return {split: [str(p) for p in paths] for split in SPLITS if (paths := shard_paths(root, split))}


def read_examples(root: str | Path, split: str | None = None, stage: str | None = None) -> Iterator[DlanExample]:
    """Stream examples shard by shard (never the whole dataset in memory)."""
    root = Path(root)
    paths = shard_paths(root, split)
    if not paths:
        raise FileNotFoundError(f"{root}: no D_lan shards under data/ (build one with `vlm2vla data build`)")
    for path in paths:
        frame = read_frame(path)
        missing = set(COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: missing D_lan columns {sorted(missing)}")
        for row in frame.to_dict("records"):
            row["images"] = list(row["images"])
            example = DlanExample(**{c: row[c] for c in COLUMNS})
            if stage is None or example.stage == stage:
                yield example


def chunk_of(example: DlanExample) -> list[list[float | None]]:
    return json.loads(example.chunk_json) if example.chunk_json else []
