"""Schema for model specs: which checkpoint, which adapter, which action representation, how to sample."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

# Registry keys: each value names a loader implementation (later issues add theirs, e.g. the simulator's oracle).
MODEL_TYPES = ("gemma3", "openvla", "ecot", "oracle", "scripted")
DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass
class StageSampling:
    """How one stage samples: temperature (0 = greedy), then top-k, then top-p, as transformers' warpers apply them.
    Every decoder samples exactly this: a checkpoint's own generation config (gemma-3-12b-it sets top_k 64) is never
    consulted."""

    temperature: float = 0.5
    top_p: float = 0.95
    max_new_tokens: int = 64
    top_k: int = 0  # keep only the k most likely tokens before top-p; 0 = off (the paper gives top-p only)

    def validate(self, prefix: str) -> None:
        """Called by the owner with this block's key path (the same block type appears per stage)."""
        check_positive(f"{prefix}.temperature", self.temperature, allow_zero=True)
        check(0.0 < self.top_p <= 1.0, f"{prefix}.top_p", self.top_p, "a number in (0, 1]")
        check(self.max_new_tokens > 0, f"{prefix}.max_new_tokens", self.max_new_tokens, "an integer > 0")
        check(isinstance(self.top_k, int) and self.top_k >= 0, f"{prefix}.top_k", self.top_k,
              "an integer >= 0 (0 turns top-k off)")


@dataclass
class GenerationSpec:
    """Per-stage sampling (paper: top-p 0.95; T=0.5 sub-tasks in distribution, 1.0 out of it; 0.1 plans; 0.5 actions)."""

    subtasks: StageSampling = field(default_factory=lambda: StageSampling(0.5, 0.95, 128))
    subtasks_ood_temperature: float = 1.0
    plan: StageSampling = field(default_factory=lambda: StageSampling(0.1, 0.95, 32))
    # action budgets >= the 99th percentile of the demo's D_lan (merged steps 11, Gemma-3 target tokens 258 + 1 for
    # the end of turn; the dataset card reports both for any D_lan): shorter budgets truncated long chunks
    action: StageSampling = field(default_factory=lambda: StageSampling(0.5, 0.95, 320))
    seed: int = 0
    constrained_actions: bool = True  # decode action chunks under the representation's grammar
    # decode motion plans under the rules annotator's plan language (harness.actions.plan); turn off for models
    # trained on free-form plans (e.g. the Gemini annotator's)
    constrained_plans: bool = True
    constrained_subtasks: bool = True  # sub-tasks as a numbered list of at most policy.max_subtasks lines
    max_action_steps: int = 12  # the grammar's bound on steps per chunk (see `action` above)
    jump_forward: bool = True  # append tokens the grammar forces without sampling them
    reuse_prefix_cache: bool = True  # keep the image+instruction prefix's KV cache across stages and retries
    # logits only for the tokens the grammar allows (a row gather of the output embedding instead of the full-vocabulary
    # product; on Gemma's 262k vocabulary that product is most of a one-token pass on small models)
    restrict_logits: bool = True
    # prompt-lookup speculation: up to this many tokens copied from the prompt or the text so far (where its last
    # tokens occurred before) are verified in the same forward pass, accepted exactly as sampling would; 0 turns it off
    draft_tokens: int = 8

    def __post_init__(self) -> None:
        for stage in ("subtasks", "plan", "action"):
            getattr(self, stage).validate(f"generation.{stage}")
        check_positive("generation.subtasks_ood_temperature", self.subtasks_ood_temperature, allow_zero=True)
        check(0 <= self.draft_tokens <= 64, "generation.draft_tokens", self.draft_tokens, "an integer in [0, 64]")
        check(1 <= self.max_action_steps <= 64, "generation.max_action_steps", self.max_action_steps,
              "an integer in [1, 64]")


@dataclass
class PolicySpec:
    """The closed loop around the model (the trial's cycle budget is the task's, `experiments/tasks/`)."""

    max_retries_per_subtask: int = 3  # validator retries (and malformed chunks) before moving on regardless
    max_subtasks: int = 8  # sub-tasks kept from the plan (the model may write more lines)

    def __post_init__(self) -> None:
        check(self.max_retries_per_subtask >= 0, "policy.max_retries_per_subtask", self.max_retries_per_subtask,
              "an integer >= 0")
        check(self.max_subtasks >= 1, "policy.max_subtasks", self.max_subtasks, "an integer >= 1")


@dataclass
class ControlSpec:
    """How a trial drives the model, as its own robot evaluation did (null = the task's cycle budget, no pacing).
    OpenVLA's Bridge script: 5 Hz, non-blocking, 60 steps; ECoT's: 2 Hz, blocking, 600 steps. The runner starts
    cycles at most `hz` times a second and stops after `max_steps` cycles (instead of the task's budget); `blocking`
    is logged with each trial (our backends always finish a step before the next cycle)."""

    hz: float | None = None
    blocking: bool = True
    max_steps: int | None = None

    def __post_init__(self) -> None:
        check(self.hz is None or self.hz > 0, "control.hz", self.hz, "a rate > 0 (Hz) or null")
        check(self.max_steps is None or self.max_steps >= 1, "control.max_steps", self.max_steps,
              "an integer >= 1 or null (the task's cycle budget)")


@dataclass
class ModelSpec:
    name: str = "???"
    type: str = "gemma3"
    base: str = "???"  # hub id, local directory, or `embedded:<name>` for the offline models
    adapter: str | None = None  # peft adapter directory (relative paths are under runs/), or None
    action_repr: str = "verbalized"  # name of a spec under experiments/actions/
    recipe: str | None = None  # training recipe that produces `adapter`
    dtype: str = "auto"
    device: str = "auto"
    image_size: int = 896
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    policy: PolicySpec = field(default_factory=PolicySpec)
    control: ControlSpec = field(default_factory=ControlSpec)
    script: str | None = None  # type scripted: YAML of sub-tasks and their cycle texts (None = the built-in one)
    description: str = ""

    def __post_init__(self) -> None:
        check_choice("type", self.type, MODEL_TYPES)
        check_choice("dtype", self.dtype, DTYPES)
        check(bool(self.base) and self.base != "???", "base", self.base, "a checkpoint id, directory or embedded:<name>")
        check(self.image_size >= 16, "image_size", self.image_size, "an integer >= 16")
