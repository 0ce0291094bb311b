"""Typed experiment specs (omegaconf structured dataclasses) loaded from `experiments/`."""

from harness.specs.actions import (
    ActionReprSpec,
    DecompositionSpec,
    LeastLikelySpec,
    MergeSpec,
    PlanSpec,
)
from harness.specs.base import SpecError, SpecValueError
from harness.specs.loader import (
    KINDS,
    SpecRef,
    find,
    list_specs,
    load,
    load_actions,
    load_decomposition,
    load_model,
    load_recipe,
    load_robot,
    load_task,
    load_vqa_suite,
    resolved_yaml,
    validate_all,
)
from harness.specs.model import GenerationSpec, ModelSpec, StageSampling
from harness.specs.recipe import LoraSpec, OptimizerSpec, RecipeSpec
from harness.specs.robot import CameraSpec, RobotSpec, WorkspaceSpec
from harness.specs.task import InstructionSpec, TaskSpec, VariationSpec
from harness.specs.vqa import BenchmarkSpec, VQASuiteSpec

__all__ = [
    "KINDS", "ActionReprSpec", "BenchmarkSpec", "CameraSpec", "RobotSpec", "WorkspaceSpec", "DecompositionSpec", "GenerationSpec", "InstructionSpec",
    "LeastLikelySpec", "LoraSpec", "MergeSpec", "ModelSpec", "OptimizerSpec", "PlanSpec", "RecipeSpec", "SpecError",
    "SpecRef", "SpecValueError", "StageSampling", "TaskSpec", "VQASuiteSpec", "VariationSpec", "find", "list_specs",
    "load", "load_actions", "load_decomposition", "load_model", "load_recipe", "load_robot", "load_task", "load_vqa_suite",
    "resolved_yaml", "validate_all",
]
