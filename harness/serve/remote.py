"""A model spec of `type: remote` turned into the client that drives it: the policy for trials (openpi websocket
-> `RemotePolicy`, OpenVLA's REST server -> `OpenVLARestPolicy`) and the text model for VQA.

`harness.policy.factory.make_policy` builds local policies only (the policy layer sits below this one), so the
session factories (`harness.robot.factory`, hence `harness.sim.factory`) and the VQA loader call these. The clients
are imported on use: this module loads without the `serve` extra. The token a server beyond loopback wants is read
from the environment (`TOKEN_ENV`, the variable `vlm2vla serve` reads), never from a spec file.
"""

from __future__ import annotations

import os
from typing import Any

from harness.policy.base import Policy
from harness.serve.errors import PolicyServerError
from harness.serve.protocol import TOKEN_ENV
from harness.specs.model import ModelSpec


def _require_remote(spec: ModelSpec) -> str:
    if spec.type != "remote" or not spec.url:
        raise ValueError(f"model {spec.name!r} has type {spec.type!r}; only a model of type remote is served")
    return spec.url


def _clients() -> Any:
    try:
        from harness.serve import client
    except ImportError as e:
        raise PolicyServerError(f"the policy server clients need the `serve` extra (make setup-all): {e}") from e
    return client


def remote_policy(spec: ModelSpec) -> Policy:
    """Connect to the served policy now (a dead server fails here, before anything moves); raises
    `PolicyServerError` naming the URL when it cannot."""
    url = _require_remote(spec)
    if spec.protocol == "openvla-rest":
        from harness.serve.openvla_rest import OpenVLARestClient, OpenVLARestPolicy

        return OpenVLARestPolicy(OpenVLARestClient(url, timeout_s=spec.timeout_s), name=spec.name, control=spec.control)
    return _clients().RemotePolicy(url, timeout_s=spec.timeout_s, connect_timeout_s=spec.connect_timeout_s,
                                   api_key=os.environ.get(TOKEN_ENV) or None, name=spec.name)


def remote_text_model(spec: ModelSpec) -> Any:
    """`generate_batch` over the server's text requests (VQA through a server): `vlm2vla serve`'s text endpoint, or
    the baseline server's `POST /generate` (harness/baselines/openvla_server.py; OpenVLA's own deploy.py has none)."""
    url = _require_remote(spec)
    if spec.protocol == "openvla-rest":
        from harness.serve.openvla_rest import OpenVLARestTextModel

        return OpenVLARestTextModel(url, timeout_s=spec.timeout_s)
    return _clients().RemoteTextModel(url, timeout_s=spec.timeout_s, api_key=os.environ.get(TOKEN_ENV) or None)
