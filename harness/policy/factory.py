"""Build the policy a model spec describes. The trial runner and the benchmarks call only this."""

from __future__ import annotations

from typing import Any

from harness.policy.base import Policy
from harness.specs.model import ModelSpec


def make_policy(spec: ModelSpec, *, loaded: Any = None, **kwargs: Any) -> Policy:
    """gemma3 -> the hierarchical VLM2VLA policy; openvla/ecot -> their baselines. The simulator's `oracle` is
    built by the simulator (it reads the scene), and a `remote` one by `harness.serve.remote`, not here; `scripted`
    replays fixed texts (dry runs, tests, demo).
    `loaded` passes an already loaded model (else the spec's is loaded); `kwargs` go to the policy."""
    if spec.type == "scripted":
        from harness.policy.scripted import ScriptedPolicy

        return ScriptedPolicy.from_spec(spec)
    if spec.type == "oracle":
        raise ValueError(f"model {spec.name!r} is the simulator's oracle; it runs only with --robot sim")
    if spec.type == "remote":  # the clients live in harness.serve, a layer above this one
        raise ValueError(f"model {spec.name!r} is served at {spec.url}: build its client with "
                         "harness.serve.remote.remote_policy (robot-trials and the simulator do)")
    if loaded is None:
        from harness.models import load_model

        loaded = load_model(spec)
    if spec.type == "gemma3":
        from harness.policy.hierarchical import VLM2VLAPolicy

        return VLM2VLAPolicy(loaded, **kwargs)
    if spec.type in ("openvla", "ecot"):
        from harness.policy.baselines import OpenVLAPolicy

        return OpenVLAPolicy(loaded, **kwargs)
    raise ValueError(f"model {spec.name!r}: no policy for type {spec.type!r}")
