"""Schemas for action representations and for the episode decomposition (merge rule, motion-plan wording).

The decomposition is its own spec so that both representations are rendered from one and the same decomposition:
the VLM2VLA / VLM2VLA-AT ablation must differ only in how a chunk is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

ACTION_REPR_TYPES = ("verbalized", "least_likely", "openvla_bins")


@dataclass
class LeastLikelySpec:
    """VLM2VLA-AT: numbers written as fixed-width digits over the model's K least likely tokens."""

    k: int = 10
    digits: int = 3  # per axis, value in units of `resolution_cm`, offset so it is non-negative
    token_file: str | None = None  # chosen ids; None = derived in the cache from the tokenizer fingerprint
    neutral_prompts: list[str] = field(
        default_factory=lambda: [
            "The weather today is",
            "Here is a short description of the picture:",
            "Question: What is on the table? Answer:",
            "A robot arm is standing next to a kitchen sink.",
            "In summary, the results show that",
            "Instructions: put the spoon in the bowl.",
        ]
    )

    def __post_init__(self) -> None:
        check(self.k == 10, "least_likely.k", self.k, "10 (one token per decimal digit)")
        check(1 <= self.digits <= 6, "least_likely.digits", self.digits, "an integer in [1, 6]")
        check(len(self.neutral_prompts) > 0, "least_likely.neutral_prompts", self.neutral_prompts, "a non-empty list")


@dataclass
class ActionReprSpec:
    name: str = "???"
    type: str = "verbalized"
    resolution_cm: float = 0.1
    least_likely: LeastLikelySpec = field(default_factory=LeastLikelySpec)
    description: str = ""

    def __post_init__(self) -> None:
        check_choice("type", self.type, ACTION_REPR_TYPES)
        check(self.resolution_cm in (0.1, 0.5, 1.0), "resolution_cm", self.resolution_cm, "one of 0.1, 0.5, 1.0")


@dataclass
class MergeSpec:
    """The paper's merge rule (§6.2): merge per-step deltas until one axis or the whole displacement is large."""

    axis_limit_cm: float = 2.5
    displacement_limit_cm: float = 5.0
    # an axis reverses (and a new step starts) only when it moves back by more than this: smaller sign changes are
    # teleoperation and sensing jitter, and splitting on them fragmented chunks into sub-centimetre steps
    reversal_cm: float = 0.5

    def __post_init__(self) -> None:
        check_positive("merge.axis_limit_cm", self.axis_limit_cm)
        check_positive("merge.displacement_limit_cm", self.displacement_limit_cm)
        check_positive("merge.reversal_cm", self.reversal_cm, allow_zero=True)


@dataclass
class PlanSpec:
    """How a chunk's net displacement becomes a direction-only motion plan ("move down and slightly forward")."""

    min_cm: float = 0.5  # components smaller than this are not mentioned
    slight_ratio: float = 0.5  # components below this fraction of the largest are "slightly"

    def __post_init__(self) -> None:
        check_positive("plan.min_cm", self.min_cm, allow_zero=True)
        check(0.0 < self.slight_ratio <= 1.0, "plan.slight_ratio", self.slight_ratio, "a number in (0, 1]")


@dataclass
class DecompositionSpec:
    name: str = "???"
    merge: MergeSpec = field(default_factory=MergeSpec)
    plan: PlanSpec = field(default_factory=PlanSpec)
    description: str = ""
