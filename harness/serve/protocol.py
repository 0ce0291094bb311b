"""The messages of our policy server, on openpi's websocket wire format (one home for both ends).

Wire: binary frames of msgpack with numpy arrays encoded exactly as `openpi_client.msgpack_numpy` does (the codec
openpi's own server and client use, imported from the real package). On connect the server sends its metadata;
then each client message gets exactly one reply.

Messages (a dict; `endpoint` picks the kind, default "infer" so a plain openpi client's `infer(obs)` works):

- infer   `image` (uint8 H x W x 3), `instruction` (str; required when it starts a trial), optional `state`
          (float [x, y, z] or [x, y, z, gripper], metres, robot base frame), `timestamp`, `trial_id`, `cycle_id`
          (echoed back), `seed` (must equal the server's `generation.seed`: sampling is the served spec's)
          -> `actions` (float64 N x 4: dx, dy, dz in metres, gripper 1 open / 0 closed / NaN = leave as it is),
          `parsed` (False: the text did not parse, nothing moves, `parse_error` says why), `subtask`, `plan`,
          `action_text`, `texts` (every stage's raw text), `stats` (timings, decoder counters), the sub-task state.
- reset   starts a trial, as RoboArena's `endpoint: "reset"` does: optional `session_id`, `trial_id`, `seed`,
          `out_of_distribution`; with `image` and `instruction` the sub-tasks are planned now and returned,
          without them the next infer plans them on its observation.
- advance the robot side's validator decision: `decision` ("retry" | "proceed"), optional `reason`, `source`.
- text    a prompt with its images -> text (VQA through a server): `content` (a list of str and uint8 H x W x 3
          arrays, in order), optional `max_new_tokens`, `temperature`, `top_p`, `seed` -> `text`.

A malformed or unknown message gets `{"error": {"key", "message"}}` and the connection stays open (openpi closes it;
keeping it lets a robot correct the request without a reconnect). An exception inside the policy is answered as
openpi's server does: the traceback as a text frame, then close code 1011.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.actions.types import ActionChunk, ActionStep
from harness.policy.base import CycleOutput, Observation

PROTOCOL = "openpi-websocket"
PROTOCOL_VERSION = 1
ENDPOINTS = ("infer", "reset", "advance", "text")
ACTION_DIMS = ("dx", "dy", "dz", "gripper")
API_KEY_HEADER = "Authorization"  # openpi-client 0.1.2 sends `Authorization: Api-Key <key>`
API_KEY_SCHEME = "Api-Key"
TOKEN_ENV = "VLM2VLA_SERVE_TOKEN"

_OBS_KEYS = {"image", "instruction", "state", "timestamp", "trial_id", "cycle_id", "seed", "session_id"}
ALLOWED_KEYS: dict[str, set[str]] = {
    "infer": _OBS_KEYS | {"endpoint"},
    "reset": _OBS_KEYS | {"endpoint", "out_of_distribution"},
    "advance": {"endpoint", "decision", "reason", "source", "trial_id", "cycle_id"},
    "text": {"endpoint", "content", "max_new_tokens", "temperature", "top_p", "seed"},
}


class RequestError(ValueError):
    """A malformed request: names the offending key, so the reply tells the client what to fix."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"key {key!r}: {message}")

    def reply(self) -> dict[str, Any]:
        return {"error": {"key": self.key, "message": str(self)}}


def endpoint_of(message: Any) -> str:
    """The message's endpoint after checking that it is a dict with only the keys that endpoint takes."""
    if not isinstance(message, Mapping):
        raise RequestError("<message>", f"expected a dict (msgpack map), got {type(message).__name__}")
    endpoint = message.get("endpoint", "infer")
    if endpoint not in ALLOWED_KEYS:
        raise RequestError("endpoint", f"{endpoint!r} is not one of {list(ENDPOINTS)}")
    for key in message:
        if key not in ALLOWED_KEYS[endpoint]:
            raise RequestError(str(key), f"unknown for endpoint {endpoint!r}; allowed: {sorted(ALLOWED_KEYS[endpoint])}")
    return endpoint


def check_image(value: Any, key: str = "image") -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] != 3:
        got = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        raise RequestError(key, f"expected a uint8 H x W x 3 array, got {got}")
    return value


def optional_str(message: Mapping[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is not None and not isinstance(value, str):
        raise RequestError(key, f"expected a string, got {type(value).__name__}")
    return value


def optional_number(message: Mapping[str, Any], key: str, kind: type = float) -> Any:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or (kind is int and float(value) != int(value)) or not math.isfinite(float(value)):
        raise RequestError(key, f"expected {'an integer' if kind is int else 'a finite number'}, got {value!r}")
    return kind(value)


def observation_from(message: Mapping[str, Any]) -> Observation:
    """The policy observation in a message (`image`, optional `state`, `timestamp`)."""
    if "image" not in message:
        raise RequestError("image", "missing: the observation needs the policy camera's uint8 H x W x 3 image")
    image = check_image(message["image"])
    position, gripper = None, None
    if message.get("state") is not None:
        state = np.asarray(message["state"])
        if state.dtype.kind not in "iuf" or state.shape not in ((3,), (4,)) or not np.isfinite(state).all():
            raise RequestError("state", f"expected finite [x, y, z] or [x, y, z, gripper], got {message['state']!r}")
        position = (float(state[0]), float(state[1]), float(state[2]))
        gripper = float(state[3]) if state.shape == (4,) else None
    return Observation(image, position, gripper, optional_number(message, "timestamp") or 0.0)


def observation_to(observation: Observation) -> dict[str, Any]:
    """The wire form of an observation (what `observation_from` reads)."""
    out: dict[str, Any] = {"image": np.ascontiguousarray(observation.image, dtype=np.uint8),
                           "timestamp": float(observation.timestamp)}
    if observation.ee_position is not None:
        state = [*observation.ee_position] + ([observation.gripper] if observation.gripper is not None else [])
        out["state"] = np.asarray(state, dtype=np.float64)
    return out


def chunk_to_array(chunk: ActionChunk | None) -> np.ndarray:
    """One row per step (dx, dy, dz, gripper); a gripper left as it is travels as NaN."""
    rows = [[s.dx, s.dy, s.dz, math.nan if s.gripper is None else s.gripper] for s in chunk or []]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(ACTION_DIMS))


def chunk_from_array(actions: Any) -> ActionChunk:
    arr = np.asarray(actions, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(ACTION_DIMS):
        raise ValueError(f"'actions' must be N x {len(ACTION_DIMS)} ({', '.join(ACTION_DIMS)}), got {arr.shape}")
    return [ActionStep(float(r[0]), float(r[1]), float(r[2]), None if math.isnan(r[3]) else float(r[3])) for r in arr]


def cycle_reply(out: CycleOutput) -> dict[str, Any]:
    """What an infer answers: the action rows and everything the trial log records about the cycle."""
    return {"actions": chunk_to_array(out.chunk), "parsed": out.chunk is not None, "parse_error": out.parse_error,
            "subtask": out.subtask, "plan": out.plan, "action_text": out.action_text, "texts": dict(out.texts),
            "stats": {k: float(v) for k, v in out.stats.items()}}


def cycle_from(reply: Mapping[str, Any]) -> CycleOutput:
    """The `CycleOutput` a reply carries (float64 on the wire: the chunk is bit-identical to the served one)."""
    chunk = chunk_from_array(reply["actions"]) if reply["parsed"] else None
    return CycleOutput(str(reply["subtask"]), str(reply["plan"]), str(reply["action_text"]), chunk,
                       reply.get("parse_error"), {str(k): str(v) for k, v in dict(reply["texts"]).items()},
                       {str(k): float(v) for k, v in dict(reply["stats"]).items()})
