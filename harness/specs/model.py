"""Schema for model specs: which checkpoint, which adapter, which action representation, how to sample."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

# Registry keys: each value names a loader implementation (later issues add theirs, e.g. the simulator's oracle);
# `remote` is a policy served elsewhere (`url`, `protocol`), driven through harness.serve's clients.
MODEL_TYPES = ("gemma3", "openvla", "ecot", "oracle", "scripted", "remote")
DTYPES = ("auto", "bfloat16", "float16", "float32")
# protocol -> the URL schemes it is reached by: openpi's websocket (our `vlm2vla serve`, openpi, RoboArena
# servers) and OpenVLA's REST server (`vla-scripts/deploy.py`)
REMOTE_PROTOCOLS: dict[str, tuple[str, ...]] = {"openpi": ("ws", "wss"), "openvla-rest": ("http", "https")}


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
    # type remote: where the policy is served, how, and how long the robot waits before it stops the trial
    url: str | None = None  # ws://HOST:PORT (openpi) or http://HOST:PORT (openvla-rest)
    protocol: str = "openpi"
    timeout_s: float = 30.0  # per request; a slower reply is a stalled server (the trial is scored invalid)
    connect_timeout_s: float = 10.0
    description: str = ""

    def __post_init__(self) -> None:
        check_choice("type", self.type, MODEL_TYPES)
        check_choice("dtype", self.dtype, DTYPES)
        if self.type == "remote":
            self._check_remote()
        else:
            check(self.url is None, "url", self.url, "no url: only a model of type remote is served elsewhere")
        check(bool(self.base) and self.base != "???", "base", self.base, "a checkpoint id, directory or embedded:<name>")
        check(self.image_size >= 16, "image_size", self.image_size, "an integer >= 16")

    def _check_remote(self) -> None:
        check_choice("protocol", self.protocol, REMOTE_PROTOCOLS)
        schemes = REMOTE_PROTOCOLS[self.protocol]
        check(isinstance(self.url, str) and url_scheme(self.url) in schemes, "url", self.url,
              f"a {' or '.join(s + '://HOST:PORT' for s in schemes)} URL for protocol {self.protocol}")
        check_positive("timeout_s", self.timeout_s)
        check_positive("connect_timeout_s", self.connect_timeout_s)
        if self.base == "???":  # the checkpoint is the server's business; the URL identifies the model here
            self.base = str(self.url)


def url_scheme(value: str) -> str | None:
    """`ws` for `ws://host:port`; None when `value` is not a URL (a spec name, a path)."""
    match = re.match(r"([a-z][a-z0-9+.-]*)://\S+$", value.strip(), re.IGNORECASE)
    return match.group(1).lower() if match else None


def is_remote_url(value: str) -> bool:
    """Whether a `--model` value names a served policy by its URL instead of a spec under experiments/models/."""
    scheme = url_scheme(value)
    return any(scheme in schemes for schemes in REMOTE_PROTOCOLS.values())


def remote_spec(url: str) -> ModelSpec:
    """The model spec of a policy served at `url` (`ws://` -> openpi, `http://` -> openvla-rest; default timeouts).

    Its name is the URL made safe for file names and the trial log (`ws://127.0.0.1:8000` -> `ws-127.0.0.1-8000`):
    the same URL is the same model, so rerunning a session against it resumes it. A spec file of `type: remote`
    gives a served model a name of its own, its timeouts, and survives the server moving.
    """
    url = url.strip()
    scheme = url_scheme(url)
    protocol = next((p for p, schemes in REMOTE_PROTOCOLS.items() if scheme in schemes), None)
    check(protocol is not None, "--model", url, "a ws://HOST:PORT (openpi) or http://HOST:PORT (openvla-rest) URL")
    name = re.sub(r"[^A-Za-z0-9.]+", "-", url).strip("-")
    return ModelSpec(name=name, type="remote", base=url, url=url, protocol=str(protocol),
                     description=f"served at {url} ({protocol})")
