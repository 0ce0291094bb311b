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

Resumable: each finished arm is written to `results/mechanism/forgetting_<model>/<arm>.json` (atomically) and the
CSV is rewritten from those files, so an interrupted grid reruns only what is missing (an interrupted training run
resumes from its last checkpoint). A grid with other settings is refused unless restarted.
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
from harness.paths import results_dir, runs_dir
from harness.records import ForgettingRow, write_rows
from harness.records.atomic import atomic_write_text
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
    cached: bool = False  # read back from an earlier run (not stored)

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


# ---------------------------------------------------------------------------------------------------- running
def _cached(plan: GridPlan, arm: Arm, fingerprint: dict[str, Any]) -> ArmResult | None:
    path = plan.state_dir / f"{arm.name}.json"
    if not path.is_file():
        return None
    result = ArmResult.load(path)
    if result.fingerprint != fingerprint:
        keys = sorted(k for k in set(fingerprint) | set(result.fingerprint)
                      if fingerprint.get(k) != result.fingerprint.get(k))
        raise GridMismatchError(f"{plan.state_dir} holds results of a grid with other settings ({', '.join(keys)} "
                                "differ); rerun with --restart to discard them and the grid's training runs, or "
                                "move that directory away to keep them")
    return result


def _evaluate(loaded: LoadedModel, plan: GridPlan, arm: Arm, tokens: LeastLikelyTokens | None,
              progress: bool) -> dict[str, Any]:
    t0, c0 = time.monotonic(), time.process_time()
    scores = score_probe_set(loaded, plan.probe, limit=plan.probe_limit, progress=progress)
    t1 = time.monotonic()
    quality = action_quality(loaded, plan.data_dir, arm.representation, limit=plan.heldout_limit, tokens=tokens,
                             progress=progress)
    # the base is the reference for both representations; an arm is read in its own
    reps = REPRESENTATIONS if arm.method == "none" else (arm.representation,)
    rows = logprob_rows(loaded, plan.data_dir, limit=plan.heldout_limit, representations=reps, tokens=tokens,
                        progress=progress)
    heldout = {rep: sum(r.mean_logprob for r in rows if r.representation == rep)
               / sum(1 for r in rows if r.representation == rep) for rep in reps}
    return {"probe_accuracy": scores.accuracy, "probe_answer_logprob": scores.answer_logprob,
            "probe_n": len(scores.items), "probe_correct": [it.id for it, ok in zip(scores.items, scores.correct,
                                                                                      strict=True) if ok],
            "probe_by_lang": scores.accuracy_by("lang"), "probe_by_category": scores.accuracy_by("category"),
            "parse_rate": quality.parse_rate, "mae_cm": quality.mae_cm,
            "zero_motion_mae_cm": quality.zero_motion_mae_cm, "n_heldout": quality.n,
            "max_new_tokens": quality.max_new_tokens, "samples": quality.samples,
            "eval_wall_s": round(time.monotonic() - t0, 1), "eval_cpu_s": round(time.process_time() - c0, 1),
            "probe_wall_s": round(t1 - t0, 1), "actions_wall_s": round(time.monotonic() - t1, 1),
            "heldout_logprob": heldout}


def run_grid(plan: GridPlan, *, arms: Iterable[Arm] = ARMS, progress: bool = True,
             on_arm: Callable[[ArmResult], None] | None = None) -> GridResult:
    """Measure the base, then train and measure every arm not already on disk; rewrites the CSV after each."""
    from harness.train.recipe import train

    fingerprint = plan.fingerprint()
    arms = list(arms)
    done = {arm.name: r for arm in [BASE, *arms] if (r := _cached(plan, arm, fingerprint)) is not None}
    tokens = None
    if "base" not in done or any(a.representation == "least_likely" and a.name not in done for a in arms):
        # the untuned base: measured once, and the source of the least-likely token choice for every arm
        base_loaded = load_model(plan.arm_spec(Arm("least_likely", "none")))
        tokens = base_loaded.least_likely_tokens()
        if "base" not in done:
            done["base"] = ArmResult(arm="base", representation=BASE.representation, method="none", recipe="",
                                     steps=0, train_examples=0, skipped_too_long=0, first_loss=None,
                                     last_loss=None, train_wall_s=0.0, fingerprint=fingerprint,
                                     **_evaluate(base_loaded, plan, BASE, tokens, progress))
            done["base"].save(plan.state_dir / "base.json")
            _write_csv(plan, done)
        del base_loaded
        gc.collect()
    if on_arm:
        on_arm(done["base"])
    for arm in arms:
        if arm.name in done:
            if on_arm:
                on_arm(done[arm.name])
            continue
        out = plan.run_dir(arm.name)
        recipe = plan.recipes[arm.method]
        c0 = time.process_time()
        trained = train(plan.arm_spec(arm), plan.data_dir, out, recipe=recipe.name, max_steps=plan.steps,
                        full=arm.method == "full", progress=progress)
        train_cpu = time.process_time() - c0
        summary = json.loads((trained.adapter_dir / "train.json").read_text())
        if trained.already_done:  # trained before an interruption: its own record of the time it took
            train_cpu = float(summary.get("cpu_s", 0.0))
        else:
            summary["cpu_s"] = round(train_cpu, 1)
            (trained.adapter_dir / "train.json").write_text(json.dumps(summary, indent=2))
        shutil.rmtree(out / "checkpoints", ignore_errors=True)  # the saved adapter/model is all that is needed now
        loaded = load_model(plan.arm_spec(arm), adapter=trained.adapter_dir)
        result = ArmResult(arm=arm.name, representation=arm.representation, method=arm.method, recipe=recipe.name,
                           steps=trained.steps, train_examples=trained.examples,
                           skipped_too_long=trained.skipped_too_long, first_loss=trained.first_loss,
                           last_loss=trained.last_loss, train_wall_s=round(float(summary["wall_s"]), 1),
                           train_cpu_s=round(train_cpu, 1), fingerprint=fingerprint, **_evaluate(loaded, plan, arm, tokens, progress))
        del loaded
        gc.collect()
        result.save(plan.state_dir / f"{arm.name}.json")
        done[arm.name] = result
        _write_csv(plan, done)
        if on_arm:
            on_arm(result)
    return GridResult(plan, done["base"], [done[a.name] for a in arms if a.name in done])


# ---------------------------------------------------------------------------------------------------- records
def forgetting_rows(plan: GridPlan, base: ArmResult, arms: Iterable[ArmResult]) -> list[ForgettingRow]:
    rows = []
    for r in [base, *arms]:
        retention = 100.0 * r.probe_accuracy / base.probe_accuracy if base.probe_accuracy else float("nan")
        rows.append(ForgettingRow(model=plan.model.name, arm=r.arm, representation=r.representation, method=r.method,
                                  steps=r.steps, probe_score=r.probe_accuracy, retention_pct=retention,
                                  action_parse_rate=r.parse_rate, action_mae_cm=r.mae_cm, n_probe=r.probe_n,
                                  n_heldout=r.n_heldout, seed=plan.seed))
    return rows


def _write_csv(plan: GridPlan, done: dict[str, ArmResult]) -> None:
    arms = [done[a.name] for a in ARMS if a.name in done]
    write_rows(plan.csv_path, forgetting_rows(plan, done["base"], arms), ForgettingRow)


def paired_difference(a: ArmResult, b: ArmResult) -> tuple[int, int, float | None]:
    """McNemar's exact test on the paired probe items: (right only in a, right only in b, two-sided p); p is None
    when scipy (the `reports` extra) is not installed."""
    only_a = len(set(a.probe_correct) - set(b.probe_correct))
    only_b = len(set(b.probe_correct) - set(a.probe_correct))
    try:
        from scipy.stats import binomtest
    except ImportError:
        return only_a, only_b, None
    n = only_a + only_b
    return only_a, only_b, (1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue))


def compare(a: ArmResult, b: ArmResult, base: ArmResult, alpha: float = 0.05) -> str:
    """One line: does arm `a` keep more probe knowledge than arm `b`? With the paired test's verdict."""
    ra = 100.0 * a.probe_accuracy / base.probe_accuracy if base.probe_accuracy else float("nan")
    rb = 100.0 * b.probe_accuracy / base.probe_accuracy if base.probe_accuracy else float("nan")
    only_a, only_b, p = paired_difference(a, b)
    line = (f"{a.arm} {ra:.1f}% vs {b.arm} {rb:.1f}% retention (items right only in one: {only_a} vs {only_b}"
            + (f", McNemar exact p = {p:.3g})" if p is not None else "; install the reports extra for a p-value)"))
    if p is None:
        word = "more" if ra > rb else "less" if ra < rb else "as much"
        return f"{line}: {a.arm} keeps {word} knowledge (untested)"
    if p >= alpha:
        return f"{line}: no significant difference at p < {alpha:g}"
    return f"{line}: {a.arm} keeps {'more' if only_a > only_b else 'less'} knowledge (p < {alpha:g})"


def paper_claim(result: GridResult, alpha: float = 0.05) -> list[str]:
    """The paper's claim tested on this grid, and the same comparison for the extension arms."""
    arms = {r.arm: r for r in result.arms}
    lines = []
    v, t = arms.get("verbalized-lora"), arms.get("least_likely-lora")
    if v and t:
        _, _, p = paired_difference(v, t)
        if p is None:
            verdict = "untested (no scipy)"
        elif p >= alpha:
            verdict = "NOT CONFIRMED here (no significant difference)"
        elif v.probe_accuracy > t.probe_accuracy:
            verdict = "CONSISTENT with the paper"
        else:
            verdict = "CONTRADICTS the paper"
        lines.append("paper's claim (LoRA on verbalized actions forgets less than on least-likely tokens): "
                     f"{verdict}: {compare(v, t, result.base, alpha)}")
    vf, tf = arms.get("verbalized-full"), arms.get("least_likely-full")
    if vf and tf:
        lines.append(f"extension, full fine-tuning: {compare(vf, tf, result.base, alpha)}")
    for rep in REPRESENTATIONS:
        lo, fu = arms.get(f"{rep}-lora"), arms.get(f"{rep}-full")
        if lo and fu:
            lines.append(f"extension, LoRA vs full on {rep}: {compare(lo, fu, result.base, alpha)}")
    return lines
