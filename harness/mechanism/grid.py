"""The forgetting grid: {verbalized, least-likely} actions x {LoRA, full fine-tuning}, and what each costs.

The paper ablates the representation under LoRA only; here both factors vary. Every arm fine-tunes the same base on
the same D_lan train split through `harness.train.train` with the same number of optimiser steps, batch size,
gradient accumulation, seed and therefore data order (`plan_grid` refuses recipes that differ in any of them);
arms differ only in how action chunks are written (the model spec's `action_repr`) and in the method (the LoRA or
the full recipe, each with its own learning rate). Before (arm `base`) and after, each model is measured on

- retained knowledge: the probe set (`experiments/probes/`), scored by likelihood (`harness.mechanism.probes`);
- action quality on held-out D_lan: parse rate and error of the decoded translation (`action_quality`), and the
  mean per-token log-probability of the held-out action targets (teacher-forced, as Fig. 3): how far each arm has
  learnt its representation, even where its greedy output does not parse yet.

A recipe in four steps: `plan_grid` (settings, checked) -> `run_grid`: set up (arms already on disk, the base model
and its least-likely tokens) -> for each arm, train (`train_arm`) -> measure (`measure`) -> write (`write_arm`).
Resumable: each finished arm is written to `results/mechanism/forgetting_<model>/<arm>.json` (atomically) and the
CSV is rewritten from those files, so an interrupted grid reruns only what is missing (an interrupted training run
resumes from its last checkpoint). A grid with other settings is refused unless restarted. The trainer's own files
are read, never rewritten: what the grid adds to a run (its CPU time) is kept in `<run>/grid.json`.

Retention and the paired test live in `harness.records` (one definition for every experiment); the verdict lines
in `harness.mechanism.verdict`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.data.dlan import read_examples, shard_paths
from harness.mechanism.action_quality import ACTION_SPECS, action_quality
from harness.mechanism.logprob import logprob_rows
from harness.mechanism.probes import load_probe_set, score_probe_set, subset
from harness.models import load_model
from harness.models.least_likely import least_likely_tokens
from harness.paths import results_dir, runs_dir
from harness.records import ForgettingRow, write_rows
from harness.records.atomic import atomic_write_text
from harness.records.environment import fingerprint_of, remember
from harness.records.fingerprint import differing_keys
from harness.records.metrics import retention_pct
from harness.specs import load_model as load_model_spec
from harness.specs import load_recipe
from harness.specs.model import ModelSpec
from harness.specs.probes import ProbeSetSpec
from harness.specs.recipe import RecipeSpec

if TYPE_CHECKING:
    from harness.actions import LeastLikelyTokens
    from harness.models.loaded import LoadedModel

METHODS = ("lora", "full")
REPRESENTATIONS = ("verbalized", "least_likely")
# what must be equal between the two recipes for the arms to see the same batches in the same order
SHARED_RECIPE_KEYS = ("batch_size", "effective_batch", "max_grad_norm", "seed", "max_length", "precision", "epochs")
FORMAT_VERSION = 3  # bump when what an arm measures changes: older arm files then no longer match


@dataclass(frozen=True)
class Arm:
    representation: str  # verbalized | least_likely | (base: the untuned model)
    method: str  # lora | full | none

    @property
    def name(self) -> str:
        return "base" if self.method == "none" else f"{self.representation}-{self.method}"


BASE = Arm("verbalized", "none")  # the untuned model; its actions are read as verbalized text
ARMS = tuple(Arm(r, m) for r in REPRESENTATIONS for m in METHODS)


class GridMismatchError(RuntimeError):
    """Results on disk come from a grid with other settings; mixing them would compare different experiments."""


@dataclass
class GridPlan:
    model: ModelSpec  # the base model spec (no adapter)
    data_dir: Path
    steps: int
    recipes: dict[str, RecipeSpec]  # method -> recipe (max_steps = steps)
    probe: ProbeSetSpec
    probe_limit: int | None
    heldout_limit: int | None
    n_probe: int
    n_heldout: int
    n_train: int

    @property
    def seed(self) -> int:
        return self.recipes["lora"].seed

    @property
    def state_dir(self) -> Path:
        return results_dir() / "mechanism" / f"forgetting_{self.model.name}"

    @property
    def csv_path(self) -> Path:
        return results_dir() / "mechanism" / f"forgetting_{self.model.name}.csv"

    def run_dir(self, arm: str) -> Path:
        """The training run of arm `arm` (its name)."""
        return runs_dir() / f"forgetting-{self.model.name}-{arm}"

    def arm_spec(self, arm: Arm) -> ModelSpec:
        """The base spec writing actions in the arm's representation (what `train` reads its targets from)."""
        return replace(self.model, adapter=None, action_repr=ACTION_SPECS[arm.representation])

    def fingerprint(self) -> dict[str, Any]:
        shards = {p.name: p.stat().st_size for p in shard_paths(self.data_dir)}
        probe = hashlib.sha256(json.dumps(asdict(self.probe), sort_keys=True).encode()).hexdigest()[:16]
        return {"version": FORMAT_VERSION, "model": self.model.name, "base": self.model.base,
                "data": str(self.data_dir.resolve()), "shards": shards, "steps": self.steps,
                "recipes": {m: asdict(r) for m, r in self.recipes.items()}, "probe": f"{self.probe.name}@{probe}",
                "probe_limit": self.probe_limit, "heldout_limit": self.heldout_limit}


@dataclass
class Training:
    """What fine-tuning one arm produced (the base arm: nothing)."""

    recipe: str = ""
    steps: int = 0
    examples: int = 0
    skipped_too_long: int = 0
    first_loss: float | None = None
    last_loss: float | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of all threads (a machine shared with other work inflates only wall time)
    adapter_dir: Path | None = None


@dataclass
class Measurement:
    """One model measured: retained knowledge (probe set) and held-out action quality, with the time it took."""

    probe_accuracy: float
    probe_answer_logprob: float
    probe_n: int
    probe_correct: list[str]  # ids of the items answered right
    probe_by_lang: dict[str, float]
    probe_by_category: dict[str, float]
    parse_rate: float
    mae_cm: float
    zero_motion_mae_cm: float
    n_heldout: int
    max_new_tokens: int
    samples: list[dict[str, Any]]
    heldout_logprob: dict[str, float]  # representation -> mean nats/token
    eval_wall_s: float
    eval_cpu_s: float
    probe_wall_s: float
    actions_wall_s: float


@dataclass
class ArmResult:
    arm: str
    representation: str
    method: str
    recipe: str
    steps: int
    train_examples: int
    skipped_too_long: int
    first_loss: float | None
    last_loss: float | None
    train_wall_s: float
    eval_wall_s: float
    probe_accuracy: float
    probe_answer_logprob: float
    probe_n: int
    probe_correct: list[str]  # ids of the items answered right
    probe_by_lang: dict[str, float]
    probe_by_category: dict[str, float]
    parse_rate: float
    mae_cm: float
    zero_motion_mae_cm: float
    n_heldout: int
    max_new_tokens: int
    samples: list[dict[str, Any]]
    train_cpu_s: float = 0.0  # CPU time of all threads (a machine shared with other work inflates only wall time)
    eval_cpu_s: float = 0.0
    probe_wall_s: float = 0.0
    actions_wall_s: float = 0.0
    heldout_logprob: dict[str, float] = field(default_factory=dict)  # representation -> mean nats/token
    fingerprint: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # records.environment, of the measurement
    cached: bool = False  # read back from an earlier run (not stored)

    @classmethod
    def of(cls, arm: Arm, training: Training, measured: Measurement, fingerprint: dict[str, Any],
           environment: dict[str, str] | None = None) -> ArmResult:
        """The record of an arm from what its training and its measurement returned."""
        # ArmResult is flat (one JSON object per arm): the measurement's fields carry over by name
        return cls(arm=arm.name, representation=arm.representation, method=arm.method, recipe=training.recipe,
                   steps=training.steps, train_examples=training.examples,
                   skipped_too_long=training.skipped_too_long, first_loss=training.first_loss,
                   last_loss=training.last_loss, train_wall_s=training.wall_s, train_cpu_s=training.cpu_s,
                   **{f.name: getattr(measured, f.name) for f in fields(Measurement)},
                   fingerprint=fingerprint, environment=dict(environment or {}))

    def save(self, path: Path) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "cached"}
        atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> ArmResult:
        try:
            data = json.loads(path.read_text())
            return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data}, cached=True)
        except (OSError, json.JSONDecodeError, TypeError) as e:
            raise GridMismatchError(f"{path}: not a forgetting-grid arm result ({e}); delete it to measure the arm "
                                    "again") from e


@dataclass
class GridResult:
    plan: GridPlan
    base: ArmResult
    arms: list[ArmResult]

    def rows(self) -> list[ForgettingRow]:
        return forgetting_rows(self.plan, self.base, self.arms)

    def retention(self, r: ArmResult) -> float:
        return probe_retention(r, self.base)


# ---------------------------------------------------------------------------------------------------- planning
def plan_grid(model: str, data_dir: str | Path, *, steps: int | None = None, lora_recipe: str = "forgetting-lora-cpu",
              full_recipe: str = "forgetting-full-cpu", probe: str = "knowledge", probe_limit: int | None = None,
              heldout_limit: int | None = None) -> GridPlan:
    """Resolve and check every setting of the grid (nothing is trained or loaded)."""
    spec = replace(load_model_spec(model), adapter=None)
    data_dir = Path(data_dir)
    if not shard_paths(data_dir, "train") or not shard_paths(data_dir, "heldout"):
        raise FileNotFoundError(f"{data_dir}: the grid needs a D_lan with train and heldout shards under data/ "
                                "(build one with `vlm2vla data build`, or `make demo-data`)")
    recipes = {"lora": load_recipe(lora_recipe), "full": load_recipe(full_recipe)}
    for method, recipe in recipes.items():
        if recipe.method != method:
            raise ValueError(f"recipe {recipe.name!r} has method {recipe.method!r}; the {method} arms need a "
                             f"recipe with method: {method}")
    differ = [k for k in SHARED_RECIPE_KEYS if getattr(recipes["lora"], k) != getattr(recipes["full"], k)]
    if differ:
        raise ValueError(f"recipes {lora_recipe!r} and {full_recipe!r} differ in {', '.join(differ)}: the arms would "
                         "not see the same batches in the same order; make them equal")
    if steps is None:
        wanted = {r.max_steps for r in recipes.values()}
        if len(wanted) != 1 or None in wanted:
            raise ValueError(f"recipes {lora_recipe!r} and {full_recipe!r} set max_steps {sorted(map(str, wanted))}; "
                             "every arm trains the same number of steps: pass --steps N")
        steps = wanted.pop()
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    recipes = {m: replace(r, max_steps=steps) for m, r in recipes.items()}
    probe_spec = load_probe_set(probe)
    n_heldout = sum(1 for _ in read_examples(data_dir, split="heldout", stage="action"))
    if n_heldout == 0:
        raise ValueError(f"{data_dir}: no held-out action examples to measure action quality on")
    n_train = sum(1 for _ in read_examples(data_dir, split="train"))
    return GridPlan(model=spec, data_dir=data_dir, steps=steps, recipes=recipes, probe=probe_spec,
                    probe_limit=probe_limit, heldout_limit=heldout_limit,
                    n_probe=len(subset(probe_spec.items, probe_limit)),
                    n_heldout=min(n_heldout, heldout_limit) if heldout_limit else n_heldout, n_train=n_train)


def restart(plan: GridPlan) -> None:
    """Forget every result and training run of this model's grid."""
    shutil.rmtree(plan.state_dir, ignore_errors=True)
    plan.csv_path.unlink(missing_ok=True)
    for arm in ARMS:
        shutil.rmtree(plan.run_dir(arm.name), ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- setup
@dataclass
class _Setup:
    fingerprint: dict[str, Any]
    done: dict[str, ArmResult]  # arm name -> result (read back, or measured in this run)
    tokens: LeastLikelyTokens | None = None  # the base's least-likely tokens, when an arm still needs them


def _cached(plan: GridPlan, arm: Arm, fingerprint: dict[str, Any]) -> ArmResult | None:
    path = plan.state_dir / f"{arm.name}.json"
    if not path.is_file():
        return None
    result = ArmResult.load(path)
    keys = differing_keys(result.fingerprint, fingerprint)
    if keys:
        raise GridMismatchError(f"{plan.state_dir} holds results of a grid with other settings ({', '.join(keys)} "
                                "differ); rerun with --restart to discard them and the grid's training runs, or "
                                "move that directory away to keep them")
    return result


def setup(plan: GridPlan, arms: list[Arm], progress: bool) -> _Setup:
    """Read back the arms already measured; load the untuned base when something still needs it: it is measured
    once (arm `base`) and chooses the least-likely tokens every least-likely arm is trained and read with."""
    fingerprint = plan.fingerprint()
    state = _Setup(fingerprint, {arm.name: r for arm in [BASE, *arms]
                                 if (r := _cached(plan, arm, fingerprint)) is not None})
    if "base" in state.done and all(a.representation != "least_likely" or a.name in state.done for a in arms):
        return state
    base_loaded = load_model(plan.arm_spec(Arm("least_likely", "none")))
    state.tokens = least_likely_tokens(base_loaded)
    if "base" not in state.done:
        write_arm(plan, state, ArmResult.of(BASE, Training(), measure(base_loaded, plan, BASE, state.tokens, progress),
                                            fingerprint, fingerprint_of(base_loaded)))
    del base_loaded
    gc.collect()
    return state


# ---------------------------------------------------------------------------------------------------- run arms
def _grid_record(plan: GridPlan, arm: Arm) -> Path:
    """What the grid adds to an arm's training run (kept beside the trainer's files, which it never rewrites)."""
    return plan.run_dir(arm.name) / "grid.json"


def train_arm(plan: GridPlan, arm: Arm, progress: bool) -> Training:
    """Fine-tune one arm (or pick up its finished or interrupted run); the checkpoints go once the model is saved."""
    from harness.train.recipe import train

    recipe = plan.recipes[arm.method]
    c0 = time.process_time()
    trained = train(plan.arm_spec(arm), plan.data_dir, plan.run_dir(arm.name), recipe=recipe.name,
                    max_steps=plan.steps, full=arm.method == "full", progress=progress)
    record = _grid_record(plan, arm)
    if trained.already_done and record.is_file():  # trained before an interruption: its own record of the time
        cpu_s = float(json.loads(record.read_text()).get("cpu_s", 0.0))
    elif trained.already_done:
        cpu_s = 0.0
    else:
        cpu_s = round(time.process_time() - c0, 1)
        atomic_write_text(record, json.dumps({"cpu_s": cpu_s}, indent=2))
    summary = json.loads((trained.adapter_dir / "train.json").read_text())
    shutil.rmtree(plan.run_dir(arm.name) / "checkpoints", ignore_errors=True)  # the saved model is all that is needed
    return Training(recipe=recipe.name, steps=trained.steps, examples=trained.examples,
                    skipped_too_long=trained.skipped_too_long, first_loss=trained.first_loss,
                    last_loss=trained.last_loss, wall_s=round(float(summary["wall_s"]), 1), cpu_s=round(cpu_s, 1),
                    adapter_dir=trained.adapter_dir)


# ---------------------------------------------------------------------------------------------------- measure
def measure(loaded: LoadedModel, plan: GridPlan, arm: Arm, tokens: LeastLikelyTokens | None,
            progress: bool) -> Measurement:
    """Probe set by likelihood, greedy actions on held-out D_lan, and the teacher-forced log-probability of the
    held-out targets (the base in both representations, as the reference; an arm in its own)."""
    t0, c0 = time.monotonic(), time.process_time()
    scores = score_probe_set(loaded, plan.probe, limit=plan.probe_limit, progress=progress)
    t1 = time.monotonic()
    quality = action_quality(loaded, plan.data_dir, arm.representation, limit=plan.heldout_limit, tokens=tokens,
                             progress=progress)
    reps = REPRESENTATIONS if arm.method == "none" else (arm.representation,)
    rows = logprob_rows(loaded, plan.data_dir, limit=plan.heldout_limit, representations=reps, tokens=tokens,
                        progress=progress)
    heldout = {rep: sum(r.mean_logprob for r in rows if r.representation == rep)
               / sum(1 for r in rows if r.representation == rep) for rep in reps}
    correct = [it.id for it, ok in zip(scores.items, scores.correct, strict=True) if ok]
    return Measurement(probe_accuracy=scores.accuracy, probe_answer_logprob=scores.answer_logprob,
                       probe_n=len(scores.items), probe_correct=correct, probe_by_lang=scores.accuracy_by("lang"),
                       probe_by_category=scores.accuracy_by("category"), parse_rate=quality.parse_rate,
                       mae_cm=quality.mae_cm, zero_motion_mae_cm=quality.zero_motion_mae_cm, n_heldout=quality.n,
                       max_new_tokens=quality.max_new_tokens, samples=quality.samples, heldout_logprob=heldout,
                       eval_wall_s=round(time.monotonic() - t0, 1), eval_cpu_s=round(time.process_time() - c0, 1),
                       probe_wall_s=round(t1 - t0, 1), actions_wall_s=round(time.monotonic() - t1, 1))


# ---------------------------------------------------------------------------------------------------- write
def probe_retention(r: ArmResult, base: ArmResult) -> float:
    """Probe accuracy as a % of the base's (`harness.records.metrics`); nan where the base has nothing to retain."""
    pct = retention_pct(r.probe_accuracy, base.probe_accuracy)
    return float("nan") if pct is None else pct


def forgetting_rows(plan: GridPlan, base: ArmResult, arms: Iterable[ArmResult]) -> list[ForgettingRow]:
    return [ForgettingRow(model=plan.model.name, arm=r.arm, representation=r.representation, method=r.method,
                          steps=r.steps, probe_score=r.probe_accuracy, retention_pct=probe_retention(r, base),
                          action_parse_rate=r.parse_rate, action_mae_cm=r.mae_cm, n_probe=r.probe_n,
                          n_heldout=r.n_heldout, seed=plan.seed,
                          env=remember(r.environment) if r.environment else "") for r in [base, *arms]]


def write_arm(plan: GridPlan, state: _Setup, result: ArmResult) -> None:
    """The arm's record, then the CSV rewritten from every arm measured so far (base first, grid order)."""
    result.save(plan.state_dir / f"{result.arm}.json")
    state.done[result.arm] = result
    arms = [state.done[a.name] for a in ARMS if a.name in state.done]
    write_rows(plan.csv_path, forgetting_rows(plan, state.done["base"], arms), ForgettingRow)


def run_grid(plan: GridPlan, *, arms: Iterable[Arm] = ARMS, progress: bool = True,
             on_arm: Callable[[ArmResult], None] | None = None) -> GridResult:
    """Measure the base, then train and measure every arm not already on disk; rewrites the CSV after each."""
    arms = list(arms)
    state = setup(plan, arms, progress)
    if on_arm:
        on_arm(state.done["base"])
    for arm in arms:
        if arm.name not in state.done:
            training = train_arm(plan, arm, progress)
            loaded = load_model(plan.arm_spec(arm), adapter=training.adapter_dir)
            measured = measure(loaded, plan, arm, state.tokens, progress)
            environment = fingerprint_of(loaded)
            del loaded
            gc.collect()
            write_arm(plan, state, ArmResult.of(arm, training, measured, state.fingerprint, environment))
        if on_arm:
            on_arm(state.done[arm.name])
    return GridResult(plan, state.done["base"], [state.done[a.name] for a in arms if a.name in state.done])
