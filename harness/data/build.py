"""`vlm2vla data build`: raw BridgeData V2 -> D_lan, incremental and resumable.

The unit of work is a trajectory group (`traj_group*`): its episodes are read, annotated and written as one parquet
shard per split (`data/<split>-<group hash>.parquet`, written atomically), then the group is recorded in the
manifest with every episode's fingerprint. A re-run skips groups whose episodes, fingerprints and build settings
are unchanged; in a changed group only new or changed episodes are processed again (the others' rows are carried
over from the old shard). A run killed midway redoes at most the group it was in: shard names are fixed per
group and orphans (shards written but not recorded) are removed on start, so rows are never duplicated.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from harness.data.bridge import Episode, EpisodeError, TrajGroup, fingerprint, iter_groups, read_episode
from harness.data.decomposition import chunks_on_any_reversal
from harness.data.dlan import COLUMNS, DlanExample, read_frame, write_shard
from harness.data.examples import Writers, episode_examples, needed_images
from harness.data.manifest import Manifest
from harness.data.rules import RulesAnnotator
from harness.data.templates import STAGES
from harness.records.atomic import atomic_write_text
from harness.specs.actions import ActionReprSpec, DecompositionSpec
from harness.specs.data import DataSpec
from harness.specs.loader import load_actions, load_data, load_decomposition

FORMAT_VERSION = 2  # bump when the rows a given spec produces change (2: merge rule with a reversal threshold)
BUILD_INFO = "build.json"


class BuildError(RuntimeError):
    """The build cannot start (bad source, an output built from another source). Nothing was changed."""


@dataclass
class BuildConfig:
    """Everything that decides the rows: the data spec and the specs it names (resolved once)."""

    spec: DataSpec
    decomposition: DecompositionSpec
    verbalized: ActionReprSpec
    least_likely: ActionReprSpec

    @classmethod
    def load(cls, name: str = "bridge", annotator: str | None = None) -> BuildConfig:
        spec = load_data(name)
        if annotator is not None:
            spec.annotator = annotator
            spec.__post_init__()
        return cls(spec, load_decomposition(spec.decomposition), load_actions(spec.verbalized),
                   load_actions(spec.least_likely))

    def fingerprint(self) -> str:
        """Hash of the settings that change rows (not concurrency, retries, prices, cache location)."""
        spec = asdict(self.spec)
        spec.pop("description", None)
        if self.spec.annotator == "gemini":
            for k in ("concurrency", "timeout_s", "retry_attempts", "retry_initial_delay_s", "retry_max_delay_s",
                      "input_usd_per_mtok", "output_usd_per_mtok", "cache_dir"):
                spec["gemini"].pop(k)
        else:
            spec.pop("gemini")
        parts = {"format": FORMAT_VERSION, "spec": spec, "decomposition": asdict(self.decomposition),
                 "verbalized": self.verbalized.resolution_cm,
                 "least_likely": [self.least_likely.resolution_cm, self.least_likely.least_likely.digits]}
        for k in ("name", "description"):
            parts["decomposition"].pop(k, None)
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def split_of(episode_id: str, spec: DataSpec) -> str:
    """'heldout' for a stable ~heldout_fraction of episodes (hash of salt + id), else 'train'."""
    h = int.from_bytes(hashlib.sha256(f"{spec.split_salt}:{episode_id}".encode()).digest()[:8], "big")
    return "heldout" if h / 2**64 < spec.heldout_fraction else "train"


def group_key(group_id: str) -> str:
    return hashlib.sha1(group_id.encode()).hexdigest()[:16]


@dataclass
class BuildReport:
    found: int = 0  # episodes under --source
    processed: int = 0  # read and annotated in this run (new or changed)
    reused: int = 0  # unchanged, carried over
    skipped: int = 0  # skipped in this run (corrupt, no instruction, ...)
    removed: int = 0  # gone from the source, removed from D_lan
    groups_done: int = 0
    groups_reused: int = 0
    elapsed_s: float = 0.0
    complete: bool = True  # False when --limit stopped the build early
    usage: dict[str, Any] | None = None
    card: str = ""

    @property
    def episodes_per_s(self) -> float:
        return (self.processed + self.skipped) / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class _GroupWork:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, list[DlanExample]] = field(default_factory=lambda: {"train": [], "heldout": []})


def make_annotator(config: BuildConfig, client: Any = None, cache: str | Path | None = None):
    """The annotator the spec asks for (`client`: an injected google-genai-like client, e.g. a test fake)."""
    if config.spec.annotator == "gemini":
        from harness.data.gemini import GeminiAnnotator

        return GeminiAnnotator(config.decomposition, config.spec.gemini, config.spec.rules, client=client, cache=cache)
    return RulesAnnotator(config.decomposition, config.spec.rules)


def _rows_from_frame(frame: pd.DataFrame) -> list[DlanExample]:
    out = []
    for row in frame.to_dict("records"):
        row["images"] = list(row["images"])
        out.append(DlanExample(**{c: row[c] for c in COLUMNS}))
    return out


def _retry_wanted(entry: dict[str, Any]) -> bool:
    """Any Gemini fallback: neither API errors nor answers that failed validation are cached, so asking again
    can succeed."""
    return entry.get("annotator") == "gemini->rules"


class Builder:
    def __init__(self, source: str | Path, out: str | Path, config: BuildConfig, annotator: Any = None,
                 progress: bool = True, retry_fallbacks: bool = False, force: bool = False):
        self.source = Path(source).resolve()
        self.out = Path(out)
        self.config = config
        self.cfg_hash = config.fingerprint()
        self.writers = Writers.from_specs(config.verbalized, config.least_likely)
        self.annotator = annotator if annotator is not None else make_annotator(config)
        self.progress = progress
        self.retry_fallbacks = retry_fallbacks
        self.force = force

    # ------------------------------------------------------------------ setup
    def _check_output(self) -> None:
        if not self.source.is_dir():
            raise BuildError(f"--source {self.source}: no such directory (point it at the raw BridgeData V2 "
                             "release, or make one with `vlm2vla data fixture`)")
        info_path = self.out / BUILD_INFO
        if info_path.exists():
            info = json.loads(info_path.read_text())
            if info.get("source") != str(self.source) and not self.force:
                raise BuildError(f"{self.out} was built from {info.get('source')}, not {self.source}; use another "
                                 "--out, or --force to rebuild it from this source (its rows are replaced)")
        self.out.mkdir(parents=True, exist_ok=True)
        info = {"source": str(self.source), "spec": self.config.spec.name, "annotator": self.config.spec.annotator,
                "config": self.cfg_hash, "format": FORMAT_VERSION}
        atomic_write_text(info_path, json.dumps(info, indent=1))

    def _remove_orphans(self, manifest: Manifest) -> None:
        """Shards written by a killed run after its last recorded group."""
        known = manifest.shard_files()
        for path in (self.out / "data").glob("*"):
            rel = path.relative_to(self.out).as_posix()
            if path.suffix == ".tmp" or (path.suffix == ".parquet" and rel not in known):
                path.unlink()

    # ------------------------------------------------------------------ one group
    def _unchanged(self, old: dict[str, Any] | None, fps: dict[str, str]) -> bool:
        if old is None or old.get("config") != self.cfg_hash:
            return False
        if {k: v["fp"] for k, v in old["episodes"].items()} != fps:
            return False
        if any(p and not (self.out / p).exists() for p in old.get("shards", {}).values()):
            return False
        return not (self.retry_fallbacks and any(_retry_wanted(e) for e in old["episodes"].values()))

    def _image_paths(self, episode: Episode, indices: list[int]) -> list[str]:
        """Copy the needed images (bytes as recorded: original resolution) and return D_lan-relative paths."""
        rel = [""] * len(episode.image_paths)
        folder = self.out / "images" / episode.episode_id
        folder.mkdir(parents=True, exist_ok=True)
        for t in indices:
            src = episode.image_paths[t]
            shutil.copyfile(src, folder / src.name)
            rel[t] = f"images/{episode.episode_id}/{src.name}"
        return rel

    def _entry(self, episode: Episode, dec, info: dict[str, Any], split: str, n_rows: int, fp: str) -> dict[str, Any]:
        entry = {"fp": fp, "status": "ok", "split": split, "annotator": dec.annotator, "steps": len(dec.steps),
                 "deltas": episode.n_steps, "chunk_lengths": [len(s.chunk) for s in dec.steps], "examples": n_rows,
                 "latency": episode.latency_shifted, "date_source": episode.date_source,
                 "zero_first": episode.dropped_zero_action}
        if dec.fallback_reason:
            entry["fallback"] = dec.fallback_reason
        if dec.plan_disagreements:
            entry["plan_disagreements"] = dec.plan_disagreements
        # the same steps if every sign change split a chunk (reversal_cm 0): the card's before/after comparison
        baseline = chunks_on_any_reversal(episode, dec, self.config.decomposition)
        entry["any_reversal"] = {"chunk_lengths": [len(c) for c in baseline],
                                 "targets": [self.writers.verbalized.encode(c) for c in baseline]}
        if "tokens" in info:
            entry["gemini"] = {"cached": info.get("cached", False), **info["tokens"]}
        return entry

    def _process_group(self, group: TrajGroup, fps: dict[str, str], old: dict[str, Any] | None,
                       report: BuildReport) -> dict[str, Any]:
        work = _GroupWork()
        keep: set[str] = set()
        if old is not None and old.get("config") == self.cfg_hash:
            keep = {eid for eid, e in old["episodes"].items()
                    if fps.get(eid) == e["fp"] and not (self.retry_fallbacks and _retry_wanted(e))}
            for split, rel in old.get("shards", {}).items():
                path = self.out / rel if rel else None
                if keep and path is not None and path.exists():
                    frame = read_frame(path)
                    work.rows[split] += _rows_from_frame(frame[frame["episode_id"].isin(keep)])
            missing = {r.episode_id for rows in work.rows.values() for r in rows}
            keep = {eid for eid in keep if eid in missing or old["episodes"][eid]["status"] != "ok"}
            work.rows = {s: [r for r in rows if r.episode_id in keep] for s, rows in work.rows.items()}
            for eid in keep:
                work.entries[eid] = old["episodes"][eid]
            report.reused += len(keep)  # (the rest of the group is processed below)

        episodes: list[Episode] = []
        for path in group.paths:
            eid = path.relative_to(self.source).as_posix()
            if eid in keep:
                continue
            shutil.rmtree(self.out / "images" / eid, ignore_errors=True)
            try:
                ep = read_episode(path, self.source, self.config.spec.reader)
                ep.fingerprint = fps[eid]
                episodes.append(ep)
            except EpisodeError as e:
                work.entries[eid] = {"fp": fps[eid], "status": "skipped", "reason": e.reason, "detail": e.detail}
                report.skipped += 1
        for ep, (dec, info) in zip(episodes, self.annotator.annotate_many(episodes), strict=True):
            split = split_of(ep.episode_id, self.config.spec)
            error = info.get("error", "")
            if dec is not None:
                try:
                    images = self._image_paths(ep, needed_images(dec))
                    rows = episode_examples(ep, dec, split, images, self.writers, self.config.spec.aux)
                except ValueError as e:  # e.g. a chunk outside the least-likely codec's range
                    error = f"{type(e).__name__}: {e}"
            if error or dec is None:
                shutil.rmtree(self.out / "images" / ep.episode_id, ignore_errors=True)
                work.entries[ep.episode_id] = {"fp": ep.fingerprint, "status": "skipped",
                                               "reason": "annotation_failed", "detail": error}
                report.skipped += 1
                continue
            work.rows[split] += rows
            work.entries[ep.episode_id] = self._entry(ep, dec, info, split, len(rows), ep.fingerprint)
            report.processed += 1

        order = {p.relative_to(self.source).as_posix(): i for i, p in enumerate(group.paths)}
        key = group_key(group.group_id)
        shards: dict[str, str | None] = {}
        for split, rows in work.rows.items():
            rel = f"data/{split}-{key}.parquet"
            if rows:
                rows.sort(key=lambda r: (order.get(r.episode_id, 0), STAGES.index(r.stage)))
                write_shard(rows, self.out / rel)
                shards[split] = rel
            else:
                (self.out / rel).unlink(missing_ok=True)
                shards[split] = None
        return {"group": group.group_id, "key": key, "config": self.cfg_hash,
                "episodes": dict(sorted(work.entries.items(), key=lambda kv: order.get(kv[0], 0))), "shards": shards}

    def _remove_group(self, record: dict[str, Any]) -> int:
        for rel in record.get("shards", {}).values():
            if rel:
                (self.out / rel).unlink(missing_ok=True)
        for eid in record["episodes"]:
            shutil.rmtree(self.out / "images" / eid, ignore_errors=True)
        return len(record["episodes"])

    # ------------------------------------------------------------------ the build
    def run(self, limit: int | None = None, tokenizer: str | Path | None = None) -> BuildReport:
        from harness.data.card import write_card

        self._check_output()
        start = time.perf_counter()
        manifest = Manifest(self.out)
        self._remove_orphans(manifest)
        groups = list(iter_groups(self.source))
        report = BuildReport(found=sum(len(g.paths) for g in groups))
        seen: set[str] = set()
        bar = tqdm(total=report.found, unit="ep", desc="D_lan", disable=not self.progress, dynamic_ncols=True)
        try:
            for group in groups:
                if limit is not None and report.processed + report.skipped >= limit:
                    report.complete = False
                    break
                seen.add(group.group_id)
                fps = {p.relative_to(self.source).as_posix(): fingerprint(p, self.config.spec.reader.camera)
                       for p in group.paths}
                old = manifest.get(group.group_id)
                if self._unchanged(old, fps):
                    report.groups_reused += 1
                    report.reused += len(fps)
                else:
                    if old is not None:  # episodes that left the group
                        for eid in set(old["episodes"]) - set(fps):
                            shutil.rmtree(self.out / "images" / eid, ignore_errors=True)
                            report.removed += 1
                    manifest.commit(self._process_group(group, fps, old, report))
                    report.groups_done += 1
                bar.update(len(group.paths))
                bar.set_postfix(new=report.processed, reused=report.reused, skipped=report.skipped, refresh=False)
        finally:
            bar.close()
        if report.complete:
            gone = [g for g in manifest.records if g not in seen]
            for g in gone:
                report.removed += self._remove_group(manifest.records[g])
            manifest.drop(gone)
        manifest.compact()
        report.elapsed_s = time.perf_counter() - start
        usage = getattr(self.annotator, "usage", None)
        report.usage = usage.as_dict() if usage is not None else None
        if report.usage is not None:
            (self.out / "gemini_usage.json").write_text(json.dumps(report.usage, indent=1))
        report.card = str(write_card(self.out, manifest, self.config, self.source, tokenizer=tokenizer,
                                     run=report))
        return report


def build(source: str | Path, out: str | Path, spec: str = "bridge", annotator: str | None = None,
          **kwargs: Any) -> BuildReport:
    """Convenience wrapper: load the specs, build, return the report."""
    limit = kwargs.pop("limit", None)
    tokenizer = kwargs.pop("tokenizer", None)
    config = BuildConfig.load(spec, annotator)
    return Builder(source, out, config, **kwargs).run(limit=limit, tokenizer=tokenizer)
