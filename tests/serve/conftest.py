"""Fixtures of the serving tests: servers on loopback port 0 (the OS picks a free one), stopped after each test."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("openpi_client")  # the `serve` extra (make setup-all installs it)

from harness.policy.base import CycleOutput, Observation  # noqa: E402
from harness.policy.scripted import ScriptedPolicy  # noqa: E402
from harness.serve.server import PolicyServer, ServedModel  # noqa: E402
from harness.specs import load_model as load_model_spec  # noqa: E402

INSTRUCTION = "put the carrot in the pot"


def camera_image(seed: int = 0, shape=(48, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def observation(seed: int = 0) -> Observation:
    return Observation(camera_image(seed), (0.3, 0.0, 0.1), 1.0)


class SlowPolicy(ScriptedPolicy):
    """The scripted policy whose `act` takes `delay_s` and records when it ran (overlap = interleaved requests)."""

    intervals: list[tuple[float, float]] = []
    guard = threading.Lock()

    def __init__(self, delay_s: float):
        super().__init__()
        self.delay_s = delay_s

    def act(self, observation: Observation) -> CycleOutput:
        t0 = time.perf_counter()
        time.sleep(self.delay_s)
        out = super().act(observation)
        with SlowPolicy.guard:
            SlowPolicy.intervals.append((t0, time.perf_counter()))
        return out


class FailingPolicy(ScriptedPolicy):
    def act(self, observation: Observation) -> CycleOutput:
        raise ZeroDivisionError("the policy broke")


@pytest.fixture
def scripted_spec():
    return load_model_spec("scripted")


def serve(served: ServedModel, **kwargs) -> PolicyServer:
    return PolicyServer(served, "127.0.0.1", 0, **kwargs).start()


@pytest.fixture
def scripted_server(scripted_spec):
    server = serve(ServedModel.load(scripted_spec))
    yield server
    server.stop()

