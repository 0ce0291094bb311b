"""Schema for training recipes (the paper's LoRA recipe, the full fine-tuning ablation, CPU-sized variants)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import SpecError, check, check_choice, check_positive

METHODS = ("lora", "full")
PRECISIONS = ("auto", "bf16", "fp32")
SCHEDULES = ("linear", "constant", "cosine")


@dataclass
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    exclude_vision_tower: bool = True

    def __post_init__(self) -> None:
        check(self.r > 0, "lora.r", self.r, "an integer > 0")
        check(self.alpha > 0, "lora.alpha", self.alpha, "an integer > 0")
        check(0.0 <= self.dropout < 1.0, "lora.dropout", self.dropout, "a number in [0, 1)")
        check(len(self.target_modules) > 0, "lora.target_modules", self.target_modules, "a non-empty list")


@dataclass
class OptimizerSpec:
    lr: float = 5e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "linear"
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        check_positive("optimizer.lr", self.lr)
        check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optimizer.betas", self.betas,
              "two numbers in [0, 1)")
        check_choice("optimizer.schedule", self.schedule, SCHEDULES)


@dataclass
class RecipeSpec:
    name: str = "???"
    method: str = "lora"
    lora: LoraSpec = field(default_factory=LoraSpec)
    train_projector: bool = True  # the projector of a grafted vision tower starts at zero: it must learn
    train_vision_tower: bool = False  # the paper freezes it; the embedded models' random tower may be trained
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    batch_size: int = 1  # examples per micro-batch on each process
    effective_batch: int = 8  # examples per optimiser step over all processes (the paper: 8 = 1 x accum 2 x 4 GPUs)
    max_grad_norm: float | None = 1.0  # clip the global gradient norm on every path (DeepSpeed's too); null: never
    epochs: int = 1
    max_steps: int | None = None  # overrides epochs when set
    max_length: int = 1024
    precision: str = "auto"  # bf16 where the hardware supports it
    gradient_checkpointing: bool = False
    seed: int = 0
    log_every: int = 1
    save_every: int = 200
    description: str = ""

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_choice("precision", self.precision, PRECISIONS)
        check(self.batch_size > 0, "batch_size", self.batch_size, "an integer > 0")
        check(self.effective_batch > 0, "effective_batch", self.effective_batch, "an integer > 0")
        check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm,
              "null (no clipping) or a number > 0")
        check(self.epochs > 0, "epochs", self.epochs, "an integer > 0")
        check(self.max_steps is None or self.max_steps > 0, "max_steps", self.max_steps, "null or an integer > 0")
        check(self.max_length >= 32, "max_length", self.max_length, "an integer >= 32")

    def grad_accum(self, processes: int) -> int:
        """Micro-batches accumulated per optimiser step, so that every path trains with `effective_batch`.

        The effective batch is the experiment; accumulation is only how a machine reaches it (2 on the paper's 4
        GPUs, 8 on one GPU), so it is derived here rather than written in the recipe.
        """
        per_step = self.batch_size * processes
        if processes < 1 or self.effective_batch % per_step:
            raise SpecError(
                f"recipe {self.name!r}: effective_batch {self.effective_batch} is not a multiple of batch_size x "
                f"processes = {self.batch_size} x {processes} = {per_step}; change effective_batch or batch_size in "
                f"experiments/recipes/{self.name}.yaml, or launch a number of processes that divides it")
        return self.effective_batch // per_step
