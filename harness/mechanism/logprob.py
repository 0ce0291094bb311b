"""Fig. 3: how likely an action is under the untuned model, written as language vs as least-likely tokens.

For each held-out D_lan action example, the action target is teacher-forced after the same chat prompt and image
the model is trained and prompted with (`LoadedModel.build_inputs`), and the mean log-probability per target token
is recorded, once per representation. The least-likely target is the example's digit string written as the model's
own 10 least likely token ids (`harness.models.least_likely.least_likely_tokens`), passed as ids so it is never re-tokenized.

The closing <end_of_turn> that `build_inputs` appends to every target is *not* counted by default: it is the chat
format's marker, not action text, and the two representations would each get one token that measures "is the turn
over?" rather than "is this action natural?"; for short chunks it would weigh up to a tenth of the mean.
`include_end_of_turn=True` counts it (for comparison).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.data.dlan import shard_paths
from harness.mechanism.scoring import token_logprobs
from harness.models.least_likely import least_likely_tokens
from harness.models.loaded import IGNORE_INDEX
from harness.paths import results_dir
from harness.records import LogprobRow
from harness.records.environment import env_of
from harness.records.stats import Distribution, describe
from harness.train.data import TrainDataset, TrainItem, collate, training_items

if TYPE_CHECKING:
    from harness.actions import LeastLikelyTokens
    from harness.models.loaded import LoadedModel

REPRESENTATIONS = ("verbalized", "least_likely")


def logprob_path(model: str) -> Path:
    return results_dir() / "mechanism" / f"logprob_{model}.csv"


def require_split(data_dir: str | Path, split: str) -> None:
    """Fail before any model loads, naming the empty split and the flag that picks another: a small D_lan build
    can have train shards and no held-out episode at all (its held-out split is a hashed ~10 % of episodes)."""
    if shard_paths(data_dir, split):
        return
    present = sorted({p.name.split("-", 1)[0] for p in shard_paths(data_dir)})
    if not present:
        raise FileNotFoundError(f"{data_dir}: no D_lan shards under data/ (build one with `vlm2vla data build`)")
    raise FileNotFoundError(f"{data_dir}: the D_lan split {split!r} is empty (no data/{split}-*.parquet; this D_lan "
                            f"has {', '.join(present)}); score another split with --split {present[0]}, or build a "
                            "D_lan with more episodes (the held-out split is data spec heldout_fraction of them)")


def action_items(data_dir: str | Path, representation: str, tokens: LeastLikelyTokens | None = None, *,
                 split: str = "heldout", limit: int | None = None) -> list[TrainItem]:
    """The action examples of a D_lan split with their targets in `representation` (first `limit`, in file order)."""
    items = [it for it in training_items(data_dir, representation, tokens, split=split)
             if it.prompt.stage == "action"]
    return items[:limit] if limit is not None else items


def mean_logprob(loaded: LoadedModel, item: TrainItem, *, include_end_of_turn: bool = False) -> tuple[float, int]:
    """(mean log-probability per target token in nats, number of tokens counted) of one example's target."""
    row = TrainDataset(loaded, [item])[0]
    labels = row["labels"]
    if int(labels[-1]) != loaded.end_of_turn_id:
        raise RuntimeError(f"example {item.example_id}: the target does not end with <end_of_turn>; "
                           "LoadedModel.build_inputs changed its layout")
    if not include_end_of_turn:
        labels = labels.clone()
        labels[-1] = IGNORE_INDEX
        row = {**row, "labels": labels}
    logp = token_logprobs(loaded.model, collate(int(loaded.tokenizer.pad_token_id))([row]))[0]
    if logp.numel() == 0:
        raise ValueError(f"example {item.example_id}: empty action target")
    return float(logp.mean()), int(logp.numel())


def logprob_rows(loaded: LoadedModel, data_dir: str | Path, *, model_name: str | None = None,
                 split: str = "heldout", limit: int | None = None, include_end_of_turn: bool = False,
                 representations: tuple[str, ...] = REPRESENTATIONS, tokens: LeastLikelyTokens | None = None,
                 progress: bool = True) -> list[LogprobRow]:
    """One `LogprobRow` per (action example, representation) of the split, under `loaded` as it is.

    `tokens`: the least-likely choice of the untuned base (default: `least_likely_tokens(loaded)`; a fully
    fine-tuned model must be given its base's choice)."""
    from tqdm.auto import tqdm

    unknown = set(representations) - set(REPRESENTATIONS)
    if unknown:
        raise ValueError(f"unknown representation(s) {sorted(unknown)}; choose from {', '.join(REPRESENTATIONS)}")
    if "least_likely" in representations and tokens is None:
        tokens = least_likely_tokens(loaded)
    name = model_name or loaded.spec.name
    require_split(data_dir, split)
    work = [(rep, item) for rep in representations
            for item in action_items(data_dir, rep, tokens, split=split, limit=limit)]
    if not work:
        raise ValueError(f"{data_dir}: no action examples in split {split!r}")
    rows, env = [], env_of(loaded)
    for rep, item in tqdm(work, desc=f"logprob {name}", disable=not progress):
        mean, n = mean_logprob(loaded, item, include_end_of_turn=include_end_of_turn)
        rows.append(LogprobRow(model=name, example_id=item.example_id, representation=rep, mean_logprob=mean,
                               n_tokens=n, env=env))
    return rows


def summarize(rows: list[LogprobRow]) -> dict[str, tuple[Distribution, float]]:
    """Per representation (in Fig. 3's order): the distribution of the per-example mean log-probability (nats/token)
    and the mean number of target tokens per example."""
    out = {}
    for rep in ("verbalized", "least_likely"):
        mine = [r for r in rows if r.representation == rep]
        if mine:
            out[rep] = (describe([r.mean_logprob for r in mine]), sum(r.n_tokens for r in mine) / len(mine))
    return out
