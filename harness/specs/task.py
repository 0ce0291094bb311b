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
