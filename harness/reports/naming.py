"""Fixed orders and spec look-ups shared by every section, so tables and figures list things the same way.

Models, tasks and benchmarks appear in the paper's order first, then anything else alphabetically; each model keeps
one colour across all figures. Specs are read (never required): a result row naming a model or task without a spec
still appears, it only lacks what the spec would add (the base model for retention, the planned trial count).
"""

from __future__ import annotations

from functools import cache

from harness.specs import ModelSpec, SpecError, load_task, load_vqa_suite
from harness.specs.lineage import base_model_of, model_specs

MODEL_ORDER = ("gemma3-base", "vlm2vla", "vlm2vla-at", "openvla", "ecot", "sim-verbalized", "sim-at", "gemma3-270m", "tiny",
               "oracle")
SIM_FOCUS = "sim-verbalized"  # the simulator experiment's VLM2VLA (issue 20), compared with its AT ablation
TASK_ORDER = ("pickup", "pick-place-lift", "pick-and-place", "pickup-multilingual", "pickup-ash")
ARM_ORDER = ("base", "verbalized-lora", "verbalized-full", "least_likely-lora", "least_likely-full")
REPRESENTATION_ORDER = ("verbalized", "least_likely")
VARIANT_ORDER = ("baseline", "optimized", "peer")
PAPER_SUITE = "paper"


def order_key(order: tuple[str, ...], name: str) -> tuple[int, str]:
    return (order.index(name), "") if name in order else (len(order), name)


def model_key(name: str) -> tuple[int, str]:
    return order_key(MODEL_ORDER, name)


def task_key(name: str) -> tuple[int, str]:
    return order_key(TASK_ORDER, name)


@cache
def benchmark_labels(suite: str) -> tuple[str, ...]:
    """Benchmark labels in the suite spec's order (empty when there is no such spec)."""
    try:
        return tuple(b.label for b in load_vqa_suite(suite).benchmarks)
    except SpecError:
        return ()


def benchmark_key(suite: str, label: str) -> tuple[int, str]:
    return order_key(benchmark_labels(suite) or benchmark_labels(PAPER_SUITE), label)


@cache
def _model_specs() -> dict[str, ModelSpec]:
    return model_specs()


def base_model(model: str) -> str | None:
    """The untuned model a fine-tuned model's retention is measured against (`harness.specs.lineage`'s rule).

    None for a model that is not fine-tuned from one of our specs (OpenVLA, ECoT, an untuned base, an unknown name).
    """
    return base_model_of(model, _model_specs())


@cache
def planned_trials(task: str) -> int | None:
    try:
        return load_task(task).trials
    except SpecError:
        return None


def clear_caches() -> None:
    """Specs are re-read per report run (tests point VLM2VLA_EXPERIMENTS elsewhere)."""
    for fn in (benchmark_labels, _model_specs, planned_trials):
        fn.cache_clear()
