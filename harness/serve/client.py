"""Client side of our policy server: `RemotePolicy` (the `Policy` interface over openpi's websocket protocol) and
`RemoteTextModel` (text requests, for VQA through a server).

openpi-client's `WebsocketClientPolicy` speaks the same wire format and works against our server (the tests drive it),
but 0.1.2 waits forever for a reply and has no connect timeout, and its `reset()` never reaches the server. A robot
must stop when the server dies or stalls, so this client keeps openpi's codec (`openpi_client.msgpack_numpy`) and
its `Authorization: Api-Key` header, and adds per-request timeouts and the explicit reset / advance messages.
Every fault (refused, closed, timed out, a traceback frame, undecodable or incomplete reply, an error reply) raises
`PolicyServerError`, the one exception the trial runner catches.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
import websockets.exceptions
import websockets.sync.client
from openpi_client import msgpack_numpy
from PIL import Image

from harness.policy.base import CycleOutput, Decision, Observation, Policy
from harness.serve import protocol as P
from harness.serve.errors import PolicyServerError

__all__ = ["OpenpiConnection", "PolicyServerError", "RemotePolicy", "RemoteTextModel"]


class OpenpiConnection:
    """One websocket connection: metadata on connect, then one reply per request, each within `timeout_s`."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, connect_timeout_s: float = 10.0,
                 api_key: str | None = None):
        self.url, self.timeout_s = url, timeout_s
        # per request: client wall time - the server's time in the policy (`server_timing.infer_ms`), seconds
        self.overheads: deque[float] = deque(maxlen=1024)
        # requests sent whose reply was never read (Ctrl-C while waiting): the socket delivers replies in order, so
        # each must be read and dropped before the next request, or that request would get a stale reply
        self._unanswered = 0
        headers = {P.API_KEY_HEADER: f"{P.API_KEY_SCHEME} {api_key}"} if api_key else None
        self._stack = ExitStack()  # websockets >= 17.1 wants its connection entered as a context
        try:
            self._ws = self._stack.enter_context(websockets.sync.client.connect(
                url, compression=None, max_size=None, proxy=None, additional_headers=headers,
                open_timeout=connect_timeout_s))
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as e:
            raise PolicyServerError(f"{url}: cannot connect to the policy server: {e}") from e
        self.metadata = self._receive(connect_timeout_s, "metadata")

    def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send one message and return its reply; an error reply raises, naming the key the server refused."""
        while self._unanswered:  # late replies of interrupted requests come first; they answer nobody now
            self._receive(self.timeout_s, "late")
        t0 = time.perf_counter()
        try:
            self._ws.send(msgpack_numpy.packb(dict(message)))
        except (OSError, websockets.exceptions.WebSocketException) as e:
            raise PolicyServerError(f"{self.url}: the policy server connection is gone: {e}") from e
        self._unanswered += 1
        reply = self._receive(self.timeout_s, str(message.get("endpoint", "infer")))
        timing = reply.get("server_timing")
        if isinstance(timing, dict) and isinstance(timing.get("infer_ms"), (int, float)):
            self.overheads.append(time.perf_counter() - t0 - timing["infer_ms"] / 1000)
        if "error" in reply:
            err = reply["error"]
            raise PolicyServerError(f"{self.url} refused the request: {err.get('message', err) if isinstance(err, dict) else err}")
        return reply

    def _receive(self, timeout_s: float, what: str) -> dict[str, Any]:
        try:
            raw = self._ws.recv(timeout=timeout_s)
        except TimeoutError as e:
            self.close()
            raise PolicyServerError(f"{self.url}: no {what} reply within {timeout_s} s (the server stalled)") from e
        except (OSError, websockets.exceptions.WebSocketException) as e:
            raise PolicyServerError(f"{self.url}: the policy server closed the connection: {e}") from e
        self._unanswered = max(0, self._unanswered - 1)  # a frame arrived: the oldest request is answered
        if isinstance(raw, str):
            raise PolicyServerError(f"{self.url}: the policy server failed:\n{raw}")
        try:
            reply = msgpack_numpy.unpackb(raw)
        except Exception as e:  # noqa: BLE001 - msgpack raises several types for garbage
            raise PolicyServerError(f"{self.url}: the {what} reply is not msgpack: {e}") from e
        if not isinstance(reply, dict):
            raise PolicyServerError(f"{self.url}: the {what} reply is a {type(reply).__name__}, not a dict")
        return reply

    def close(self) -> None:
        self._stack.close()


class RemotePolicy(Policy):
    """A served policy, driven exactly as a local one (`start`, `act`, `advance`); one server session per instance."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, connect_timeout_s: float = 10.0,
                 api_key: str | None = None, name: str | None = None):
        self.connection = OpenpiConnection(url, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s,
                                           api_key=api_key)
        self.metadata = self.connection.metadata
        self.name = name or str(self.metadata.get("model", url))
        self.session_id = uuid.uuid4().hex
        self._current: str | None = None
        self._next: str | None = None
        self._trials = 0

    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        reply = self._call({"endpoint": "reset", "session_id": self.session_id, "trial_id": self._trials,
                            "instruction": instruction, "out_of_distribution": out_of_distribution,
                            **P.observation_to(observation)}, "subtasks")
        self._trials += 1
        subtasks = reply["subtasks"]
        if not isinstance(subtasks, list) or not all(isinstance(s, str) for s in subtasks):
            raise PolicyServerError(f"{self.connection.url}: 'subtasks' is not a list of strings: {subtasks!r}")
        return subtasks

    def act(self, observation: Observation) -> CycleOutput:
        reply = self._call(P.observation_to(observation), "actions", "parsed", "subtask", "plan", "action_text",
                           "texts", "stats")
        try:
            out = P.cycle_from(reply)
        except (TypeError, ValueError, KeyError) as e:
            raise PolicyServerError(f"{self.connection.url}: malformed cycle reply: {e}") from e
        if "server_timing" in reply:
            out.stats.update({f"server_{k}": float(v) for k, v in reply["server_timing"].items()})
        return out

    def advance(self, decision: Decision) -> None:
        self._call({"endpoint": "advance", "decision": decision.action, "reason": decision.reason,
                    "source": decision.source})

    def _call(self, message: Mapping[str, Any], *required: str) -> dict[str, Any]:
        reply = self.connection.request(message)
        missing = [k for k in (*required, "current_subtask", "next_subtask") if k not in reply]
        if missing:
            raise PolicyServerError(f"{self.connection.url}: reply lacks {missing} (not our policy server?)")
        self._current, self._next = reply["current_subtask"], reply["next_subtask"]
        return reply

    @property
    def request_overheads(self) -> list[float]:
        """Recent requests' transport cost in seconds (see `OpenpiConnection.overheads`)."""
        return list(self.connection.overheads)

    @property
    def current_subtask(self) -> str | None:
        return self._current

    @property
    def next_subtask(self) -> str | None:
        return self._next

    def close(self) -> None:
        self.connection.close()


class RemoteTextModel:
    """`generate` / `generate_batch` as `LoadedModel` has them (what the VQA adapter needs), over a text request."""

    def __init__(self, url: str, *, timeout_s: float = 120.0, api_key: str | None = None):
        self.connection = OpenpiConnection(url, timeout_s=timeout_s, api_key=api_key)
        if not self.connection.metadata.get("text"):
            raise PolicyServerError(f"{url}: model {self.connection.metadata.get('model')!r} serves no text requests")

    def generate(self, content: Sequence[Image.Image | str], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None) -> str:
        items = [c if isinstance(c, str) else np.asarray(c.convert("RGB"), dtype=np.uint8) for c in content]
        message: dict[str, Any] = {"endpoint": "text", "content": items, "max_new_tokens": max_new_tokens,
                                   "temperature": temperature, "top_p": top_p}
        if seed is not None:
            message["seed"] = seed
        text = self.connection.request(message).get("text")
        if not isinstance(text, str):
            raise PolicyServerError(f"{self.connection.url}: the text reply has no 'text' string")
        return text

    def generate_batch(self, contents: Sequence[Sequence[Image.Image | str]], **options: Any) -> list[str]:
        return [self.generate(c, **options) for c in contents]
