"""Models: the registry that loads any model spec, the built-in offline Gemma-3 VLMs, the OpenVLA baselines."""

from harness.models.hub import CheckpointNotFoundError, ModelLoadError
from harness.models.loaded import IGNORE_INDEX, LoadedModel
from harness.models.registry import load_model

__all__ = ["IGNORE_INDEX", "CheckpointNotFoundError", "LoadedModel", "ModelLoadError", "load_model"]
