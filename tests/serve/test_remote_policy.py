"""`RemotePolicy` drives a served policy like a local one (same sub-tasks, texts and chunks, on the scripted policy
and the tiny model), `RemoteTextModel` answers as the model does, and every server fault — killed, stalled,
garbage, incomplete, nobody listening — is a PolicyServerError within the timeout."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import websockets.asyncio.server as ws_server
from openpi_client import msgpack_numpy
from PIL import Image

from harness.policy.base import Decision
from harness.policy.scripted import ScriptedPolicy
from harness.serve.client import PolicyServerError, RemotePolicy, RemoteTextModel
from harness.serve.server import ServedModel
from tests.ports import free_port
from tests.serve.conftest import INSTRUCTION, SlowPolicy, observation, serve

pytestmark = pytest.mark.timeout(180)


def drive(policy, cycles: int = 4) -> list:
    """A trial as the runner drives it: start, then act and a validator decision (retry first, then proceed)."""
    obs = observation()
    log = [policy.start(INSTRUCTION, obs)]
    for i in range(cycles):
        if policy.done:
            break
        out = policy.act(obs)
        log.append((out.subtask, out.plan, out.action_text, out.chunk, out.parse_error, out.texts))
        policy.advance(Decision("retry" if i == 0 else "proceed"))
        log.append((policy.current_subtask, policy.next_subtask))
    return log


def test_scripted_remote_trial_equals_local(scripted_server):
    remote = RemotePolicy(scripted_server.url, timeout_s=10)
    try:
        assert drive(remote) == drive(ScriptedPolicy()) and remote.done
        assert drive(remote) == drive(ScriptedPolicy())  # a second trial: reset replans
    finally:
        remote.close()


@pytest.fixture(scope="module")
def tiny_served():
    pytest.importorskip("transformers")
    pytest.importorskip("llguidance")
    from harness.models import load_model
    from harness.specs import load_model as load_model_spec

    spec = load_model_spec("tiny")
    spec.generation.plan.max_new_tokens = 8
    spec.generation.action.max_new_tokens = 16
    spec.generation.subtasks.max_new_tokens = 16
    loaded = load_model(spec)
    from harness.policy.factory import make_policy

    return ServedModel(spec, lambda: make_policy(spec, loaded=loaded), loaded)


def test_tiny_remote_trial_equals_local_and_text_requests(tiny_served):
    server = serve(tiny_served)
    try:
        remote = RemotePolicy(server.url, timeout_s=60)
        assert remote.metadata["image_resolution"] == [32, 32] and remote.metadata["text"] is True
        assert drive(remote, 2) == drive(tiny_served.new_policy(), 2)
        remote.close()
        content = [Image.fromarray(observation().image), "What is in the image?"]
        text = RemoteTextModel(server.url, timeout_s=60).generate_batch([content], max_new_tokens=6)
        assert text == [tiny_served.text_model.generate(content, max_new_tokens=6)]
    finally:
        server.stop()


def test_server_killed_mid_trial(scripted_spec):
    server = serve(ServedModel.load(scripted_spec))
    remote = RemotePolicy(server.url, timeout_s=5)
    remote.start(INSTRUCTION, observation())
    server.stop()
    t0 = time.perf_counter()
    with pytest.raises(PolicyServerError, match="closed the connection|connection is gone"):
        remote.act(observation())
    assert time.perf_counter() - t0 < 5


def test_stalled_server_times_out(scripted_spec):
    server = serve(ServedModel(scripted_spec, lambda: SlowPolicy(3.0)))
    try:
        remote = RemotePolicy(server.url, timeout_s=0.5)
        remote.start(INSTRUCTION, observation())
        t0 = time.perf_counter()
        with pytest.raises(PolicyServerError, match=r"no infer reply within 0.5 s \(the server stalled\)"):
            remote.act(observation())
        assert time.perf_counter() - t0 < 2.5
    finally:
        server.stop()


class RawServer:
    """A websocket server that answers every message with fixed frames (garbage, incomplete replies)."""

    def __init__(self, metadata: bytes, reply: bytes | str):
        self.metadata, self.reply = metadata, reply
        self.ready, self.port = threading.Event(), 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True).start()
        assert self.ready.wait(10)

    async def _handler(self, ws):
        await ws.send(self.metadata)
        async for _ in ws:
            await ws.send(self.reply)

    async def _main(self):
        self.stop = asyncio.Event()
        async with ws_server.serve(self._handler, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stop.wait()

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)


META = msgpack_numpy.packb({"model": "raw"})


@pytest.mark.parametrize("metadata, reply, match", [
    (META, b"\xc1\xc1garbage", "not msgpack"),
    (META, msgpack_numpy.packb([1, 2, 3]), "is a list, not a dict"),
    (META, msgpack_numpy.packb({"subtasks": ["a"]}), "reply lacks"),
    (META, "Traceback (most recent call last): boom", "the policy server failed"),
    (b"\xc1", b"", "metadata reply is not msgpack"),
])
def test_garbage_replies_raise(metadata, reply, match):
    server = RawServer(metadata, reply)
    try:
        with pytest.raises(PolicyServerError, match=match):
            RemotePolicy(f"ws://127.0.0.1:{server.port}", timeout_s=5).start(INSTRUCTION, observation())
    finally:
        server.close()


def test_nobody_listening_raises():
    port = free_port()
    with pytest.raises(PolicyServerError, match="cannot connect"):
        RemotePolicy(f"ws://127.0.0.1:{port}", connect_timeout_s=2)


def test_wrong_token_raises(scripted_spec):
    server = serve(ServedModel.load(scripted_spec), token="t0ken")
    try:
        with pytest.raises(PolicyServerError, match="cannot connect.*401"):
            RemotePolicy(server.url, api_key="nope")
        RemotePolicy(server.url, api_key="t0ken").close()
    finally:
        server.stop()


def test_ctrl_c_while_waiting_drops_the_late_reply(scripted_spec):
    """Ctrl-C during `act` pauses the trial; the rerun's `start` must get its own reply, not the interrupted act's."""
    server = serve(ServedModel(scripted_spec, lambda: SlowPolicy(0.3)))
    try:
        remote = RemotePolicy(server.url, timeout_s=5)
        first = remote.start(INSTRUCTION, observation())
        ws, recv = remote.connection._ws, remote.connection._ws.recv
        interrupted = []

        def ctrl_c_once(*args, **kwargs):  # the operator's Ctrl-C lands while the client waits for the reply
            if not interrupted:
                interrupted.append(True)
                raise KeyboardInterrupt
            return recv(*args, **kwargs)

        ws.recv = ctrl_c_once
        with pytest.raises(KeyboardInterrupt):
            remote.act(observation())
        assert remote.start(INSTRUCTION, observation()) == first  # the act reply arrived first and was dropped
        local = ScriptedPolicy()
        local.start(INSTRUCTION, observation())
        assert remote.act(observation()).action_text == local.act(observation()).action_text  # the rerun's first cycle
        remote.close()
    finally:
        server.stop()
