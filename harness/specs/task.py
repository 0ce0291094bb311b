"""Schema for robot task protocols: instructions, scene, per-trial variations, success criterion, budgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

SUCCESS_CHECKS = ("pickup", "pick_place", "pick_place_lift")


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
        check(self.variation.distractors_per_trial <= len(self.distractors), "variation.distractors_per_trial",
              self.variation.distractors_per_trial, f"at most the size of the distractor pool ({len(self.distractors)})")
