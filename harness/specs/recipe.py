"""Schema for training recipes (the paper's LoRA recipe, the full fine-tuning ablation, CPU-sized variants)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

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
    batch_size: int = 1
    grad_accum: int = 2
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
        check(self.grad_accum > 0, "grad_accum", self.grad_accum, "an integer > 0")
        check(self.epochs > 0, "epochs", self.epochs, "an integer > 0")
        check(self.max_steps is None or self.max_steps > 0, "max_steps", self.max_steps, "null or an integer > 0")
        check(self.max_length >= 32, "max_length", self.max_length, "an integer >= 32")
