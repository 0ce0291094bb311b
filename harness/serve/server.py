"""`vlm2vla serve`: any registry policy behind openpi's websocket protocol (messages: `harness.serve.protocol`).

The model is loaded once; each connection gets its own policy object over it (its own trial, sub-task and seed
counters, as one local run has), so two robots never share a trial. Requests run one at a time per model (an
asyncio lock around a worker thread): a second client waits and is never interleaved, while the event loop keeps
answering pings and `GET /healthz` during a long inference (openpi's server blocks its loop instead).

Binding beyond loopback needs a token, which clients send as openpi-client does (`Authorization: Api-Key <token>`);
when a token is set it is required on every bind, loopback included.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import ipaddress
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets.asyncio.server as ws_server
import websockets.exceptions
import websockets.frames
from openpi_client import msgpack_numpy
from PIL import Image

from harness.policy.base import Decision, Policy
from harness.serve import protocol as P
from harness.specs.model import ModelSpec

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """What one server serves: the spec, a maker of fresh policies over the one loaded model, and that model (for
    text requests; None when the policy has no text model, e.g. `scripted`)."""

    spec: ModelSpec
    new_policy: Callable[[], Policy]
    text_model: Any = None  # has `generate(content, *, max_new_tokens, temperature, top_p, seed) -> str`

    @classmethod
    def load(cls, spec: ModelSpec | str, *, device: str | None = None) -> ServedModel:
        """Load a registry model once (no model for `scripted`); each connection's policy shares it."""
        from harness.policy.factory import make_policy
        from harness.specs import load_model as load_model_spec

        spec = load_model_spec(spec) if isinstance(spec, str) else spec
        if spec.type in ("scripted", "oracle"):
            return cls(spec, lambda: make_policy(spec))
        from harness.models import load_model

        loaded = load_model(spec, device=device)
        return cls(spec, lambda: make_policy(spec, loaded=loaded), loaded if hasattr(loaded, "generate") else None)

    def metadata(self) -> dict[str, Any]:
        """Sent on connect: what RoboArena's handshake states, plus our protocol and sampling seed."""
        size = self.spec.image_size if self.spec.type != "scripted" else None
        return {"server": "vlm2vla", "protocol": P.PROTOCOL, "protocol_version": P.PROTOCOL_VERSION,
                "model": self.spec.name, "model_type": self.spec.type,
                "image_resolution": [size, size] if size else None, "needs_wrist_camera": False,
                "n_external_cameras": 1, "needs_session_id": False, "stateful": True,
                "action_space": "ee_delta_translation_gripper", "action_dims": list(P.ACTION_DIMS),
                "action_units": "metres; gripper 1 open, 0 closed, NaN leave as it is",
                "endpoints": list(P.ENDPOINTS), "text": self.text_model is not None,
                "seed": self.spec.generation.seed}


@dataclass
class Session:
    """One connection's trial state around its own policy."""

    policy: Policy
    session_id: str | None = None
    trial_id: Any = None
    started: bool = False  # the sub-tasks of the current trial are planned
    out_of_distribution: bool = False
    instruction: str | None = None
    subtasks: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "trial_id": self.trial_id,
                "current_subtask": self.policy.current_subtask if self.started else None,
                "next_subtask": self.policy.next_subtask if self.started else None,
                "done": self.started and self.policy.done}


def handle(served: ServedModel, session: Session, message: Any) -> dict[str, Any]:
    """One request -> its reply. Every check runs before the policy is touched, so a `RequestError` leaves the
    session as it was; any other exception is a fault of the policy."""
    endpoint = P.endpoint_of(message)
    if endpoint == "text":  # its `seed` seeds the sampling of this one request
        return {"text": _text(served, message)}
    seed = P.optional_number(message, "seed", int)
    if seed is not None and seed != served.spec.generation.seed:
        raise P.RequestError("seed", f"{seed} differs from the served spec's generation.seed "
                             f"({served.spec.generation.seed}); serve a spec with that seed")
    if endpoint == "advance":
        decision = message.get("decision")
        if decision not in ("retry", "proceed"):
            raise P.RequestError("decision", f"expected 'retry' or 'proceed', got {decision!r}")
        if not session.started:
            raise P.RequestError("endpoint", "advance before the trial started: send a reset or an infer first")
        session.policy.advance(Decision(decision, P.optional_str(message, "reason") or "",
                                        P.optional_str(message, "source") or "remote"))
        return session.state()
    instruction = P.optional_str(message, "instruction")
    if endpoint == "reset":
        ood = message.get("out_of_distribution", False)
        if not isinstance(ood, bool):
            raise P.RequestError("out_of_distribution", f"expected true or false, got {ood!r}")
        has_obs = "image" in message
        if has_obs != (instruction is not None):
            raise P.RequestError("image" if instruction is not None else "instruction",
                                 "a reset that plans the sub-tasks needs both 'image' and 'instruction'")
        observation = P.observation_from(message) if has_obs else None
        session.session_id = P.optional_str(message, "session_id") or session.session_id
        session.trial_id, session.out_of_distribution = message.get("trial_id"), ood
        session.started, session.instruction, session.subtasks = False, None, []
        if observation is None:
            return {**session.state(), "subtasks": None}
        _start(session, instruction, observation)
        return {**session.state(), "subtasks": list(session.subtasks)}
    # infer
    observation = P.observation_from(message)
    started_now = not session.started
    if started_now:
        if instruction is None:
            raise P.RequestError("instruction", "missing: the first observation of a trial needs the instruction")
    elif instruction is not None and instruction != session.instruction:
        raise P.RequestError("instruction", f"{instruction!r} differs from this trial's {session.instruction!r}; "
                             "send a reset to start a new trial")
    elif session.policy.done:
        raise P.RequestError("endpoint", "every sub-task of this trial is done: send a reset to start a new trial")
    if started_now:
        _start(session, instruction, observation)
    out = session.policy.act(observation)
    reply = {**P.cycle_reply(out), **session.state(), "cycle_id": message.get("cycle_id")}
    if "trial_id" in message:
        reply["trial_id"] = message["trial_id"]
    if started_now:
        reply["subtasks"] = list(session.subtasks)
    return reply


def _timed(served: ServedModel, session: Session, message: Any) -> tuple[dict[str, Any], float]:
    """`handle` and the seconds it took, measured in the worker thread (the policy's own time, nothing else)."""
    t0 = time.perf_counter()
    reply = handle(served, session, message)
    return reply, time.perf_counter() - t0


def _start(session: Session, instruction: str, observation: Any) -> None:
    session.subtasks = list(session.policy.start(instruction, observation, session.out_of_distribution))
    session.started, session.instruction = True, instruction


def _text(served: ServedModel, message: Any) -> str:
    if served.text_model is None:
        raise P.RequestError("endpoint", f"model {served.spec.name!r} ({served.spec.type}) has no text model")
    content = message.get("content")
    if not isinstance(content, list) or not content:
        raise P.RequestError("content", "expected a non-empty list of strings and uint8 H x W x 3 images")
    items: list[Image.Image | str] = []
    for i, item in enumerate(content):
        items.append(item if isinstance(item, str) else Image.fromarray(P.check_image(item, f"content[{i}]")))
    options = {"max_new_tokens": P.optional_number(message, "max_new_tokens", int) or 64,
               "temperature": P.optional_number(message, "temperature") or 0.0,
               "top_p": P.optional_number(message, "top_p") or 1.0, "seed": P.optional_number(message, "seed", int)}
    return served.text_model.generate(items, **options)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """The websocket server. `serve_forever()` for the CLI; `start()`/`stop()` (or `with`) run it in a thread."""

    def __init__(self, served: ServedModel, host: str = "127.0.0.1", port: int = 8000, token: str | None = None):
        if not is_loopback(host) and not token:
            raise ValueError(f"--host {host}: listening beyond loopback needs a token (--token or "
                             f"{P.TOKEN_ENV}) that clients send as their api_key")
        self.served, self.host, self.port, self.token = served, host, port, token or None
        self._lock: asyncio.Lock | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0

    # ------------------------------------------------------------------ HTTP side: health and token
    def _process_request(self, connection: ws_server.ServerConnection, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if self.token is not None:
            sent = request.headers.get(P.API_KEY_HEADER, "")
            if not hmac.compare_digest(sent.encode(), f"{P.API_KEY_SCHEME} {self.token}".encode()):
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong api key: send the "
                                          f"server's token as `{P.API_KEY_HEADER}: {P.API_KEY_SCHEME} <token>`\n")
        return None

    # ------------------------------------------------------------------ websocket side
    async def _handler(self, ws: ws_server.ServerConnection) -> None:
        assert self._lock is not None
        await ws.send(msgpack_numpy.packb(self.served.metadata()))
        session: Session | None = None
        prev_total_ms = None
        while True:
            try:
                raw = await ws.recv()
            except websockets.exceptions.ConnectionClosed:
                return
            t0 = time.perf_counter()
            try:
                message = msgpack_numpy.unpackb(raw) if isinstance(raw, bytes) else raw
            except Exception as e:  # noqa: BLE001 - any undecodable frame is the client's error
                message = None
                reply: dict[str, Any] = P.RequestError("<message>", f"not msgpack: {e}").reply()
            policy_s = 0.0
            async with self._lock:
                t_lock = time.perf_counter()
                try:
                    if message is not None:
                        if session is None:
                            session = Session(await asyncio.to_thread(self.served.new_policy))
                        reply, policy_s = await asyncio.to_thread(_timed, self.served, session, message)
                except P.RequestError as e:
                    reply = e.reply()
                except Exception:  # noqa: BLE001 - openpi's answer to a policy fault: traceback, then close 1011
                    log.exception("policy %s failed", self.served.spec.name)
                    await ws.send(traceback.format_exc())
                    await ws.close(code=websockets.frames.CloseCode.INTERNAL_ERROR,
                                   reason="Internal server error. Traceback included in previous frame.")
                    return
                self.requests += 1
            reply["server_timing"] = {"infer_ms": policy_s * 1000, "wait_ms": (t_lock - t0) * 1000,
                                      **({"prev_total_ms": prev_total_ms} if prev_total_ms is not None else {})}
            try:
                await ws.send(msgpack_numpy.packb(reply))
            except websockets.exceptions.ConnectionClosed:
                return
            prev_total_ms = (time.perf_counter() - t0) * 1000

    async def _main(self, ready: threading.Event | None = None) -> None:
        self._lock, self._stop = asyncio.Lock(), asyncio.Event()
        async with ws_server.serve(self._handler, self.host, self.port, compression=None, max_size=None,
                                   process_request=self._process_request) as server:
            self.port = server.sockets[0].getsockname()[1]
            log.info("serving %s on ws://%s:%d", self.served.spec.name, self.host, self.port)
            if ready is not None:
                ready.set()
            await self._stop.wait()

    def serve_forever(self) -> None:
        asyncio.run(self._main())

    def start(self, timeout_s: float = 30.0) -> PolicyServer:
        """Serve from a daemon thread; returns once the port is bound (`self.port` is the real one for port 0)."""
        ready, failed = threading.Event(), []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            try:
                self._loop.run_until_complete(self._main(ready))  # type: ignore[union-attr]
            except Exception as e:  # noqa: BLE001 - e.g. the port is taken: `start` raises it at once
                failed.append(e)
                ready.set()

        self._thread = threading.Thread(target=run, daemon=True, name=f"serve-{self.served.spec.name}")
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError(f"the policy server did not bind {self.host}:{self.port} within {timeout_s} s")
        if failed:
            self._loop.close()
            self._loop = self._thread = None
            raise failed[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)
            self._loop.close()
            self._loop = self._thread = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
