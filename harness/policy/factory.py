"""Build the policy a model spec describes. The trial runner and the benchmarks call only this."""

from __future__ import annotations

from harness.policy.base import Policy
from harness.specs.model import ModelSpec


def make_policy(spec: ModelSpec, **kwargs) -> Policy:
    """gemma3 -> the hierarchical VLM2VLA policy; openvla/ecot -> their baselines. The simulator's `oracle` is
    built by the simulator (it reads the scene), not here; `scripted` replays fixed texts (dry runs, tests, demo)."""
    if spec.type == "scripted":
        from harness.policy.scripted import ScriptedPolicy

        return ScriptedPolicy.from_spec(spec)
    if spec.type == "oracle":
        raise ValueError(f"model {spec.name!r} is the simulator's oracle; it runs only with --robot sim")
    raise NotImplementedError(f"the {spec.type!r} policy is not built yet (issue 5)")
