"""Schema for D_lan build specs (`experiments/data/`): how BridgeData V2 is read, split, annotated and verbalized.

Everything that changes the built rows lives here (plus the decomposition spec it names), so the builder can hash
the resolved spec and rebuild exactly the episodes whose output would differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

ANNOTATORS = ("rules", "gemini")


@dataclass
class ReaderSpec:
    """BridgeData V2 raw-layout quirks (see harness/data/bridge.py)."""

    camera: str = "images0"  # the fixed over-the-shoulder camera every Bridge trajectory has
    latency_cutoff: str = "2021-07-23"  # collected before this date: one step latency (drop obs[0], actions[-1])
    gripper_open_above: float = 0.95  # binarization thresholds of the commanded gripper (OpenVLA's)
    gripper_closed_below: float = 0.05
    drop_first_zero_action: bool = True  # the first recorded action of many trajectories is all zeros
    min_steps: int = 2  # fewer relabelled deltas than this: skipped as too short

    def __post_init__(self) -> None:
        check(len(self.latency_cutoff) == 10 and self.latency_cutoff[4] == "-" and self.latency_cutoff[7] == "-",
              "reader.latency_cutoff", self.latency_cutoff, "a date YYYY-MM-DD")
        check(0.0 <= self.gripper_closed_below < self.gripper_open_above <= 1.0, "reader.gripper_open_above",
              self.gripper_open_above, "a number in (gripper_closed_below, 1]")
        check(self.min_steps >= 1, "reader.min_steps", self.min_steps, "an integer >= 1")


@dataclass
class RulesSpec:
    """The offline annotator: gripper events and motion phases become sub-tasks."""

    still_cm: float = 0.2  # a per-step motion below this is 'still' (the gripper squeezing, a pause)
    min_phase_cm: float = 1.5  # a motion phase that travels less than this is absorbed by its neighbour

    def __post_init__(self) -> None:
        check_positive("rules.still_cm", self.still_cm, allow_zero=True)
        check_positive("rules.min_phase_cm", self.min_phase_cm, allow_zero=True)


@dataclass
class GeminiSpec:
    """The Gemini annotator (google-genai): request shape, retries, concurrency, checks, prices."""

    model: str = "gemini-2.5-pro"
    temperature: float = 0.0
    max_key_frames: int = 8  # images sent per episode (first, last, gripper events, evenly spaced in between)
    concurrency: int = 4  # requests in flight at once
    timeout_s: float = 120.0  # per HTTP request
    retry_attempts: int = 5  # SDK retries on 408/429/5xx (HttpRetryOptions.attempts, including the first)
    retry_initial_delay_s: float = 2.0
    retry_max_delay_s: float = 60.0
    displacement_tolerance_cm: float = 1.0  # per axis, per step: the answer's displacement vs the trajectory's
    use_plans: bool = True  # Gemini's motion plans where they agree with the chunk (else the rule plan, counted)
    input_usd_per_mtok: float = 1.25  # gemini-2.5-pro list price, prompts <= 200k tokens
    output_usd_per_mtok: float = 10.0  # includes thinking tokens
    cache_dir: str | None = None  # None: <VLM2VLA_CACHE>/gemini-annotations

    def __post_init__(self) -> None:
        check(self.model.startswith("gemini"), "gemini.model", self.model, "a Gemini model id, e.g. gemini-2.5-pro")
        check_positive("gemini.temperature", self.temperature, allow_zero=True)
        check(2 <= self.max_key_frames <= 32, "gemini.max_key_frames", self.max_key_frames, "an integer in [2, 32]")
        check(1 <= self.concurrency <= 64, "gemini.concurrency", self.concurrency, "an integer in [1, 64]")
        check_positive("gemini.timeout_s", self.timeout_s)
        check(self.retry_attempts >= 1, "gemini.retry_attempts", self.retry_attempts, "an integer >= 1")
        check_positive("gemini.retry_initial_delay_s", self.retry_initial_delay_s, allow_zero=True)
        check_positive("gemini.retry_max_delay_s", self.retry_max_delay_s, allow_zero=True)
        check_positive("gemini.displacement_tolerance_cm", self.displacement_tolerance_cm)
        check_positive("gemini.input_usd_per_mtok", self.input_usd_per_mtok, allow_zero=True)
        check_positive("gemini.output_usd_per_mtok", self.output_usd_per_mtok, allow_zero=True)


@dataclass
class AuxSpec:
    """Auxiliary examples: sub-task completion pairs and movement-direction questions."""

    completion: bool = True
    direction: bool = True
    direction_min_cm: float = 2.0  # sideways motion of at least this is 'left'/'right'
    direction_none_cm: float = 0.5  # below this it is 'none'; in between the step is ambiguous and not asked

    def __post_init__(self) -> None:
        check_positive("aux.direction_none_cm", self.direction_none_cm, allow_zero=True)
        check(self.direction_min_cm > self.direction_none_cm, "aux.direction_min_cm", self.direction_min_cm,
              "a number greater than aux.direction_none_cm")


@dataclass
class DataSpec:
    name: str = "???"
    description: str = ""
    decomposition: str = "bridge"  # spec under experiments/decomposition/ (merge rule, plan wording)
    verbalized: str = "verbalized"  # spec under experiments/actions/: resolution of the verbalized text
    least_likely: str = "least-likely"  # spec under experiments/actions/: digit layout of the AT ablation
    annotator: str = "rules"
    heldout_fraction: float = 0.1
    split_salt: str = "vlm2vla-dlan"  # the held-out split is a hash of salt + episode id: stable across runs
    reader: ReaderSpec = field(default_factory=ReaderSpec)
    rules: RulesSpec = field(default_factory=RulesSpec)
    gemini: GeminiSpec = field(default_factory=GeminiSpec)
    aux: AuxSpec = field(default_factory=AuxSpec)

    def __post_init__(self) -> None:
        check_choice("annotator", self.annotator, ANNOTATORS)
        check(0.0 <= self.heldout_fraction < 1.0, "heldout_fraction", self.heldout_fraction, "a number in [0, 1)")
        check(bool(self.split_salt), "split_salt", self.split_salt, "a non-empty string")
