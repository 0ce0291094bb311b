"""The `openvla-rest` client against a stand-in for OpenVLA's deploy.py: the action comes back as sent, and every
fault (the "error" string with HTTP 200, a stall, garbage, nobody listening) is a PolicyServerError in time."""

from __future__ import annotations

import time

import numpy as np
import pytest

from harness.serve.client import PolicyServerError
from harness.serve.openvla_rest import OpenVLARestClient, OpenVLARestPolicy
from tests.ports import free_port
from tests.serve.conftest import INSTRUCTION, camera_image, observation
from tests.serve.fake_openvla import FakeDeployServer, fake_action

pytestmark = pytest.mark.timeout(60)


def test_act_round_trip_sends_image_instruction_and_unnorm_key():
    image = camera_image(3)
    with FakeDeployServer() as server:
        action = OpenVLARestClient(server.url).act(image, INSTRUCTION)
    np.testing.assert_array_equal(action, fake_action(image, INSTRUCTION))
    sent = server.requests[0]
    np.testing.assert_array_equal(sent["image"], image)
    assert sent["instruction"] == INSTRUCTION and sent["unnorm_key"] == "bridge_orig"


def test_policy_executes_translation_and_gripper_and_logs_rotation():
    obs = observation(1)
    with FakeDeployServer() as server:
        policy = OpenVLARestPolicy(OpenVLARestClient(server.url))
        assert policy.start(INSTRUCTION, obs) == [INSTRUCTION]
        out = policy.act(obs)
    a = fake_action(obs.image, INSTRUCTION)
    assert len(out.chunk) == 1 and out.chunk[0].translation == tuple(a[:3]) and out.chunk[0].gripper == 1.0
    assert (out.stats["droll"], out.stats["dpitch"], out.stats["dyaw"]) == tuple(a[3:6])


@pytest.mark.parametrize("mode, match", [("error", "answered 'error'"), ("garbage", "not json-numpy")])
def test_faulty_replies_raise(mode, match):
    with FakeDeployServer(mode) as server, pytest.raises(PolicyServerError, match=match):
        OpenVLARestClient(server.url).act(camera_image(), INSTRUCTION)


def test_stall_raises_within_the_timeout():
    with FakeDeployServer("stall", stall_s=3.0) as server:
        t0 = time.perf_counter()
        with pytest.raises(PolicyServerError, match="no reply within 0.3 s"):
            OpenVLARestClient(server.url, timeout_s=0.3).act(camera_image(), INSTRUCTION)
        assert time.perf_counter() - t0 < 2.0


def test_nobody_listening_raises():
    port = free_port()  # closed again before the request: connection refused
    with pytest.raises(PolicyServerError, match="unreachable"):
        OpenVLARestClient(f"http://127.0.0.1:{port}", timeout_s=2).act(camera_image(), INSTRUCTION)
