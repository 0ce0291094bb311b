"""The policy server with the real openpi-client: metadata, round trips equal to in-process runs, malformed
requests answered by name without losing the connection, policy faults as openpi reports them, health, token,
and two clients served one request at a time."""

from __future__ import annotations

import threading
import urllib.request

import numpy as np
import pytest
import websockets.exceptions
from openpi_client import msgpack_numpy
from openpi_client.websocket_client_policy import WebsocketClientPolicy
from websockets.sync.client import connect

from harness.actions.types import ActionStep
from harness.policy.base import Decision
from harness.policy.scripted import ScriptedPolicy
from harness.serve import protocol as P
from harness.serve.server import PolicyServer, ServedModel
from tests.serve.conftest import INSTRUCTION, FailingPolicy, SlowPolicy, camera_image, observation, serve

pytestmark = [pytest.mark.timeout(120),  # openpi-client 0.1.2 connects the way websockets 17.1 deprecated
              pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")]


def client(server: PolicyServer, **kwargs) -> WebsocketClientPolicy:
    return WebsocketClientPolicy(server.host, server.port, **kwargs)


def test_metadata_on_connect(scripted_server):
    meta = client(scripted_server).get_server_metadata()
    assert meta["protocol"] == P.PROTOCOL and meta["protocol_version"] == P.PROTOCOL_VERSION
    assert meta["model"] == "scripted" and meta["stateful"] is True
    assert meta["action_dims"] == ["dx", "dy", "dz", "gripper"] and meta["text"] is False


def test_scripted_round_trip_equals_in_process(scripted_server):
    remote = client(scripted_server)
    local = ScriptedPolicy()
    obs = observation()
    local_subtasks = local.start(INSTRUCTION, obs)
    first = remote.infer({"image": obs.image, "instruction": INSTRUCTION, "state": np.array([0.3, 0.0, 0.1, 1.0]),
                          "trial_id": 7, "cycle_id": 0})
    expected = local.act(obs)
    assert first["subtasks"] == local_subtasks and first["trial_id"] == 7 and first["cycle_id"] == 0
    assert first["parsed"] is False and first["parse_error"] == expected.parse_error  # the script's malformed line
    assert first["actions"].shape == (0, 4)
    assert first["texts"] == expected.texts and "infer_ms" in first["server_timing"]
    for decision in ("retry", "proceed"):
        state = remote.infer({"endpoint": "advance", "decision": decision})
        local.advance(Decision(decision))
        assert state["current_subtask"] == local.current_subtask and state["next_subtask"] == local.next_subtask
        reply = remote.infer({"image": obs.image})
        expected = local.act(obs)
        assert reply["parsed"] is True and reply["actions"].dtype == np.float64
        assert P.chunk_from_array(reply["actions"]) == expected.chunk
    # "close gripper": dx, dy, dz 0, gripper 0
    np.testing.assert_array_equal(reply["actions"], [[0.0, 0.0, 0.0, 0.0]])


def test_gripper_left_alone_travels_as_nan():
    chunk = [ActionStep(0.01, -0.02, 0.0, None), ActionStep(0.0, 0.0, 0.05, 1.0)]
    arr = P.chunk_to_array(chunk)
    assert np.isnan(arr[0, 3]) and P.chunk_from_array(arr) == chunk


def test_reset_starts_a_new_trial(scripted_server):
    remote = client(scripted_server)
    obs = observation()
    remote.infer({"image": obs.image, "instruction": INSTRUCTION})
    for _ in range(3):
        remote.infer({"endpoint": "advance", "decision": "proceed"})
    done = remote.infer({"image": obs.image})
    assert done["error"]["key"] == "endpoint" and "reset" in done["error"]["message"]
    pending = remote.infer({"endpoint": "reset", "session_id": "s1", "trial_id": 2})
    assert pending["subtasks"] is None and pending["session_id"] == "s1" and pending["current_subtask"] is None
    again = remote.infer({"image": obs.image, "instruction": INSTRUCTION})
    assert again["current_subtask"] == "reach the object" and again["subtasks"][0] == "reach the object"


@pytest.mark.parametrize("message, key", [
    ({"instruction": INSTRUCTION}, "image"),
    ({"image": camera_image().astype(np.float32), "instruction": INSTRUCTION}, "image"),
    ({"image": camera_image()[..., 0], "instruction": INSTRUCTION}, "image"),
    ({"image": camera_image()}, "instruction"),
    ({"image": camera_image(), "instruction": 3}, "instruction"),
    ({"image": camera_image(), "instruction": INSTRUCTION, "state": np.array([1.0, 2.0])}, "state"),
    ({"image": camera_image(), "instruction": INSTRUCTION, "wrist_image": camera_image()}, "wrist_image"),
    ({"image": camera_image(), "instruction": INSTRUCTION, "seed": 5}, "seed"),
    ({"endpoint": "fly"}, "endpoint"),
    ({"endpoint": "advance", "decision": "maybe"}, "decision"),
    ({"endpoint": "text", "content": ["what is this?"]}, "endpoint"),  # scripted has no text model
])
def test_malformed_request_gets_an_error_naming_the_key_and_the_connection_stays(scripted_server, message, key):
    remote = client(scripted_server)
    reply = remote.infer(message)
    assert reply["error"]["key"] == key, reply
    ok = remote.infer({"image": camera_image(), "instruction": INSTRUCTION})  # same connection, still served
    assert ok["subtask"] == "reach the object"


def test_undecodable_frame_gets_an_error_reply(scripted_server):
    with connect(scripted_server.url, proxy=None) as ws:
        ws.recv(timeout=10)  # metadata
        ws.send(b"\xc1 not msgpack")
        reply = msgpack_numpy.unpackb(ws.recv(timeout=10))
        assert reply["error"]["key"] == "<message>"
        ws.send(msgpack_numpy.packb({"image": camera_image(), "instruction": INSTRUCTION}))
        assert "actions" in msgpack_numpy.unpackb(ws.recv(timeout=10))


def test_policy_fault_sends_the_traceback_and_closes_1011(scripted_spec):
    server = serve(ServedModel(scripted_spec, FailingPolicy))
    try:
        remote = client(server)
        with pytest.raises(RuntimeError, match="ZeroDivisionError: the policy broke"):
            remote.infer({"image": camera_image(), "instruction": INSTRUCTION})
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
            remote._ws.recv(timeout=5)
        assert closed.value.rcvd.code == 1011
        assert client(server).get_server_metadata()["model"] == "scripted"  # the server survives
    finally:
        server.stop()


def test_healthz(scripted_server):
    with urllib.request.urlopen(f"http://127.0.0.1:{scripted_server.port}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read() == b"OK\n"


def test_token_is_required_when_set(scripted_spec):
    server = serve(ServedModel.load(scripted_spec), token="s3cret")
    try:
        with pytest.raises(websockets.exceptions.InvalidStatus, match="401"):
            client(server)
        with pytest.raises(websockets.exceptions.InvalidStatus, match="401"):
            client(server, api_key="wrong")
        assert client(server, api_key="s3cret").get_server_metadata()["model"] == "scripted"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        server.stop()


def test_listening_beyond_loopback_needs_a_token(scripted_spec):
    with pytest.raises(ValueError, match="--host 0.0.0.0: listening beyond loopback needs a token"):
        PolicyServer(ServedModel.load(scripted_spec), "0.0.0.0", 0)
    PolicyServer(ServedModel.load(scripted_spec), "0.0.0.0", 0, token="t")  # accepted (not started)


def test_two_clients_are_served_one_request_at_a_time(scripted_spec):
    SlowPolicy.intervals.clear()
    server = serve(ServedModel(scripted_spec, lambda: SlowPolicy(0.3)))
    replies: list[dict] = []
    try:
        clients = [client(server), client(server)]
        barrier = threading.Barrier(2)

        def run(c: WebsocketClientPolicy) -> None:
            barrier.wait()
            replies.append(c.infer({"image": camera_image(), "instruction": INSTRUCTION}))

        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        server.stop()
    assert len(replies) == 2 and all(r["subtask"] == "reach the object" for r in replies)
    (a0, a1), (b0, b1) = sorted(SlowPolicy.intervals)
    assert a1 <= b0, "two requests ran at the same time"
    assert max(r["server_timing"]["wait_ms"] for r in replies) >= 250  # the second client waited for the first
