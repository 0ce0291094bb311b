"""Schema for robot task protocols: instructions, scene, per-trial variations, success criterion, budgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

SUCCESS_CHECKS = ("pickup", "pick_place", "pick_place_lift")
# What the simulator's detector can measure below the top level of a progress rubric (`harness.sim.success`); the
# top level is the task's success criterion itself, so any name may stand there.
MILESTONES = ("reached", "grasped", "lifted", "carried", "placed", "released")
NO_PROGRESS_KEY = "0"  # the console's answer for "no level reached" (progress 0)
FULL_PROGRESS = 100  # a success is the top level of every rubric (RoboArena: binary success = 100)


@dataclass
class InstructionSpec:
    text: str = "???"
    language: str = "en"


@dataclass
class VariationSpec:
    """Per-trial scene variations drawn from the seeded schedule (the operator reproduces them on the real table)."""

    position_jitter_cm: float = 5.0
    distractors_per_trial: int = 2
    # Reachable table area objects are placed in (x, y metres, robot base frame; table surface at z = 0).
    area_min: list[float] = field(default_factory=lambda: [0.22, -0.15])
    area_max: list[float] = field(default_factory=lambda: [0.40, 0.15])
    min_spacing_cm: float = 7.0  # centre-to-centre distance between any two objects

    def __post_init__(self) -> None:
        check_positive("variation.position_jitter_cm", self.position_jitter_cm, allow_zero=True)
        check(self.distractors_per_trial >= 0, "variation.distractors_per_trial", self.distractors_per_trial,
              "an integer >= 0")
        check(len(self.area_min) == 2 and len(self.area_max) == 2, "variation.area_min",
              [self.area_min, self.area_max], "area_min and area_max of length 2 ([x, y] in metres)")
        check(all(a < b for a, b in zip(self.area_min, self.area_max, strict=True)), "variation.area_max",
              self.area_max, "each coordinate greater than variation.area_min")
        check_positive("variation.min_spacing_cm", self.min_spacing_cm, allow_zero=True)


@dataclass
class ProgressLevel:
    """One level of a task's partial-success rubric: the operator types `key` once the trial reached `name`."""

    name: str = "???"
    value: int = 0  # 0..100; the last level of a rubric is 100 (= success)
    key: str = "???"  # a single character, the console's answer for this level


@dataclass
class TaskSpec:
    name: str = "???"
    description: str = ""
    trials: int = 30
    instructions: list[InstructionSpec] = field(default_factory=list)
    target: str = "???"  # object the instruction refers to
    destination: str | None = None  # receptacle for pick-and-place tasks
    objects: list[str] = field(default_factory=list)  # always on the table
    distractors: list[str] = field(default_factory=list)  # pool drawn from per trial
    variation: VariationSpec = field(default_factory=VariationSpec)
    success_check: str = "pickup"
    success_text: str = "???"  # shown to the operator when scoring
    # Partial success (issue 19): ordered levels, increasing values, the last one 100 = success. Empty: the task
    # records binary outcomes only.
    progress: list[ProgressLevel] = field(default_factory=list)
    out_of_distribution: bool = False  # selects the sub-task sampling temperature
    cycle_budget: int = 15
    time_budget_s: float = 300.0
    schedule_seed: int = 0

    def __post_init__(self) -> None:
        check(self.trials > 0, "trials", self.trials, "an integer > 0")
        check(len(self.instructions) > 0, "instructions", self.instructions, "at least one instruction")
        check_choice("success_check", self.success_check, SUCCESS_CHECKS)
        check(self.success_check == "pickup" or self.destination is not None, "destination", self.destination,
              "an object name when success_check is pick_place or pick_place_lift")
        check(self.cycle_budget > 0, "cycle_budget", self.cycle_budget, "an integer > 0")
        check_positive("time_budget_s", self.time_budget_s)
        _check_rubric(self.progress)
        check(self.variation.distractors_per_trial <= len(self.distractors), "variation.distractors_per_trial",
              self.variation.distractors_per_trial, f"at most the size of the distractor pool ({len(self.distractors)})")


def _check_rubric(levels: list[ProgressLevel]) -> None:
    """Values strictly increase to 100, names below the top are measurable milestones, keys are one distinct
    character each (and not the 'none' key)."""
    if not levels:
        return
    values = [lvl.value for lvl in levels]
    check(all(0 < a < b for a, b in zip(values, values[1:], strict=False)) and values[0] > 0, "progress", values,
          "levels with values strictly increasing from above 0")
    check(values[-1] == FULL_PROGRESS, f"progress[{len(levels) - 1}].value", values[-1],
          f"{FULL_PROGRESS} (the last level is the task's success)")
    for i, lvl in enumerate(levels[:-1]):
        check_choice(f"progress[{i}].name", lvl.name, MILESTONES)
    keys = [lvl.key for lvl in levels]
    for i, key in enumerate(keys):
        check(len(key) == 1 and key == key.lower() and key != NO_PROGRESS_KEY and not key.isspace() and key not in keys[:i],
              f"progress[{i}].key", key, f"one lower-case character, distinct within the rubric, not {NO_PROGRESS_KEY!r} "
              "(the answer for no progress)")
