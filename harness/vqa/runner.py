"""A VQA run: every benchmark of a suite predicted by one model and scored by VLMEvalKit, rows to scores.csv.

Layout: `results/vqa/<model>/<suite>-<UTC time>/` holds `run.json` (what was run) and one directory per benchmark
with VLMEvalKit's own files (prediction file, its `_acc`/`_score`/`_result` files) plus our prediction checkpoint.
Every run gets a fresh directory, so cached intermediate files of an earlier run can never leak into its scores;
`resume` continues an interrupted run in its own directory (predictions already made are kept, an evaluation that
did not finish is redone from scratch, benchmarks whose rows reached scores.csv are skipped).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.paths import REPO_ROOT, results_dir
from harness.records import CHANCE_MODEL, VQAScoreRow, append_rows, read_rows
from harness.records.environment import env_of, git_sha
from harness.specs.vqa import BenchmarkSpec, VQASuiteSpec
from harness.vqa import kit
from harness.vqa.judge import Judge

kit.load()
import vlmeval.dataset as vlm_datasets  # noqa: E402
from vlmeval.smp import dump as vlm_dump  # noqa: E402
from vlmeval.smp import load as vlm_load  # noqa: E402

from harness.records.atomic import atomic_write_text  # noqa: E402
from harness.vqa.adapter import Generator, HarnessVLM, register  # noqa: E402
from harness.vqa.predict import checkpoint_file, predict, prediction_file  # noqa: E402
from harness.vqa.scores import Scored, constant_answer, flatten, rows_for, scores_csv  # noqa: E402


class RunError(RuntimeError):
    """A run cannot start or resume as asked; the message says why and what to do."""


@dataclass
class RunConfig:
    model: str  # model spec name (also VLMEvalKit's model name in file names)
    suite: VQASuiteSpec
    lmudata: Path
    judge: Judge
    batch_size: int
    max_new_tokens: int
    limit: int | None = None  # first N rows of each dataset, as VLMEvalKit's --limit
    only: list[str] = field(default_factory=list)  # subset of the suite's datasets; empty = all

    def benchmarks(self) -> list[BenchmarkSpec]:
        chosen = [b for b in self.suite.benchmarks if not self.only or b.dataset in self.only]
        unknown = set(self.only) - {b.dataset for b in self.suite.benchmarks}
        if unknown:
            raise RunError(f"suite {self.suite.name!r} has no benchmark {', '.join(sorted(unknown))} "
                           f"(has: {', '.join(b.dataset for b in self.suite.benchmarks)})")
        return chosen

    def manifest(self) -> dict[str, Any]:
        """What must match for a resumed run to continue the same measurement."""
        return dict(model=self.model, suite=self.suite.name, judge=self.judge.label,
                    max_new_tokens=self.max_new_tokens, limit=self.limit,
                    benchmarks=[b.dataset for b in self.benchmarks()])


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path.resolve())


def new_run_dir(model: str, suite: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = results_dir() / "vqa" / model / f"{suite}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def prepare(cfg: RunConfig, resume: Path | None = None) -> Path:
    """A fresh run directory with its run.json, or `resume` after checking its run.json matches `cfg`."""
    manifest = cfg.manifest()
    if resume is None:
        run_dir = new_run_dir(cfg.model, cfg.suite.name)
        run_dir.mkdir(parents=True)
        record = dict(manifest, batch_size=cfg.batch_size, lmudata=str(cfg.lmudata), git_sha=git_sha(),
                      vlmeval=kit.VLMEVAL_VERSION, started_at=datetime.now(UTC).isoformat(timespec="seconds"))
        atomic_write_text(run_dir / "run.json", json.dumps(record, indent=2) + "\n")
        return run_dir
    try:
        previous = json.loads((resume / "run.json").read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"cannot resume {resume}: no readable run.json ({e}); start a new run instead") from e
    differs = {k: (previous.get(k), v) for k, v in manifest.items() if previous.get(k) != v}
    if differs:
        detail = "; ".join(f"{k}: run has {a!r}, now {b!r}" for k, (a, b) in differs.items())
        raise RunError(f"cannot resume {resume} with different settings ({detail}); use the run's settings or "
                       "start a new run")
    return resume


def instantiate(b: BenchmarkSpec) -> Any:
    """VLMEvalKit's dataset object: the named class, or VLMEvalKit's own lookup for names it knows."""
    if b.dataset_class is not None:
        return getattr(vlm_datasets, b.dataset_class)(dataset=b.dataset)
    ds = vlm_datasets.build_dataset(b.dataset)
    if ds is None:
        raise RunError(f"VLMEvalKit {kit.VLMEVAL_VERSION} cannot build dataset {b.dataset!r}")
    return ds


def apply_limit(ds: Any, n: int) -> None:
    """Keep the first `n` rows, as VLMEvalKit's `--limit` does; for MME-rated yes/no sets, complete them to whole
    (category, image) groups, since MME's "plus" score needs both questions of an image."""
    head = ds.data.iloc[:n]
    if getattr(ds, "TYPE", "") == "Y/N" and "MME" in ds.dataset_name and "image_path" in ds.data:
        keys = set(zip(head["category"], head["image_path"], strict=True))
        head = ds.data[[k in keys for k in zip(ds.data["category"], ds.data["image_path"], strict=True)]]
    ds.data = head


def _clear_evaluation(bench_dir: Path, keep: set[Path]) -> None:
    """Remove what an earlier, unfinished evaluation left, so VLMEvalKit cannot reuse it."""
    for p in bench_dir.iterdir():
        if p.is_file() and p not in keep:
            p.unlink()


def _already_scored(csv: Path, run_dir: Path) -> set[str]:
    if not csv.exists():
        return set()
    rel = _relative(run_dir)
    return {r.benchmark for r in read_rows(csv, VQAScoreRow) if r.run_dir == rel}


def constant_predictions(ds: Any, dataset: str, pred: Path, bench_dir: Path) -> Path:
    """The model's prediction file with every answer replaced by the constant answer (`scores.constant_answer`),
    in `bench_dir/chance/`, for VLMEvalKit to score exactly as it scores the model: the chance level beside it."""
    out_dir = bench_dir / CHANCE_MODEL
    shutil.rmtree(out_dir, ignore_errors=True)  # an unfinished earlier evaluation must not be reused
    out_dir.mkdir(parents=True)
    data = vlm_load(str(pred))
    data["prediction"] = constant_answer(getattr(ds, "TYPE", ""))
    out = prediction_file(out_dir, CHANCE_MODEL, dataset)
    vlm_dump(data, str(out))
    return out


@dataclass
class RunResult:
    run_dir: Path
    rows: list[VQAScoreRow]
    skipped: list[str]  # benchmarks already scored in this run directory (resume)


def run(generator: Generator, cfg: RunConfig, run_dir: Path, *, progress: bool = True, csv: Path | None = None,
        on_batch: Callable[[int], None] | None = None) -> RunResult:
    """Predict and score every benchmark in `run_dir` (from `prepare`); rows are appended to `csv`
    (default results/vqa/scores.csv)."""
    csv = csv or scores_csv()
    benchmarks = cfg.benchmarks()
    done = _already_scored(csv, run_dir)
    rows, skipped = [], []
    sha, rel, env = git_sha(), _relative(run_dir), env_of(generator)
    with kit.session(cfg.lmudata):
        model: HarnessVLM = register(cfg.model, generator, max_new_tokens=cfg.max_new_tokens)
        for b in benchmarks:
            if b.dataset in done:
                skipped.append(b.dataset)
                continue
            ds = instantiate(b)
            if cfg.limit:
                apply_limit(ds, cfg.limit)
            bench_dir = run_dir / b.dataset
            pred = predict(model, ds, bench_dir, cfg.model, batch_size=cfg.batch_size, progress=progress,
                           on_batch=on_batch)
            _clear_evaluation(bench_dir, {pred, checkpoint_file(bench_dir, cfg.model, b.dataset)})
            new = []
            for name, file in ((cfg.model, pred), (CHANCE_MODEL, constant_predictions(ds, b.dataset, pred, bench_dir))):
                result = ds.evaluate(str(file), **cfg.judge.evaluate_kwargs())
                scored = Scored(b, flatten(result, percent=getattr(ds, "TYPE", "") == "MCQ"), n=len(ds.data))
                new += rows_for(scored, model=name, suite=cfg.suite.name, judge=cfg.judge.label,
                                date=datetime.now(UTC).isoformat(timespec="seconds"), git_sha=sha, run_dir=rel,
                                env=env)
            append_rows(csv, new, VQAScoreRow)
            rows += new
    return RunResult(run_dir, rows, skipped)

