"""The serving benchmark: what the loopback websocket costs per request and per cycle against the same policy
in process, same inputs and seeds, one run.

A cycle is `start` (the sub-tasks) then `act` (plan and action chunk), as in `harness.policy.bench`; served, that is
two requests (a reset carrying the observation, then an infer), each with the full camera image (640 x 480 by
default). Local and served cycles alternate, so machine noise hits both alike, and both policies number their trials
alike, so the served texts must equal the local ones (the result says whether they did). Per request the overhead is
the client's wall time minus the server's own time in the policy (`server_timing.infer_ms`): encoding, the socket,
decoding, the lock. The target: the median overhead per cycle <= 5 % of the in-process median cycle.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from harness.policy.base import Observation
from harness.serve.client import RemotePolicy
from harness.serve.server import PolicyServer, ServedModel

TARGET_OVERHEAD = 0.05  # served overhead per cycle / in-process median cycle, at most


def bench_observation(width: int = 640, height: int = 480, seed: int = 0) -> Observation:
    """A fixed camera-sized image (random pixels: msgpack does not compress, so content does not matter)."""
    rng = np.random.default_rng(seed)
    return Observation(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0.3, 0.0, 0.1), 1.0)


@dataclass
class ServeBenchResult:
    model: str
    image_shape: tuple[int, ...]
    local_s: list[float] = field(default_factory=list)  # per cycle, in process
    served_s: list[float] = field(default_factory=list)  # per cycle, through the server
    overhead_s: list[float] = field(default_factory=list)  # per request: client wall - server's policy time
    identical: bool = True  # every served cycle's texts and chunk equal the local ones

    @property
    def overhead_per_cycle_s(self) -> float:
        per_cycle = [a + b for a, b in zip(self.overhead_s[::2], self.overhead_s[1::2], strict=True)]
        return statistics.median(per_cycle)

    @property
    def ratio(self) -> float:
        local = statistics.median(self.local_s)
        return self.overhead_per_cycle_s / local if local > 0 else float("inf")

    def report(self) -> str:
        h, w = self.image_shape[:2]
        met = "met" if self.ratio <= TARGET_OVERHEAD else "NOT met"
        return "\n".join([
            f"{self.model}: {len(self.local_s)} cycle(s) each way, {w}x{h} image, loopback",
            f"  in-process cycle   median {statistics.median(self.local_s) * 1000:9.3f} ms",
            f"  served cycle       median {statistics.median(self.served_s) * 1000:9.3f} ms",
            f"  overhead / request median {statistics.median(self.overhead_s) * 1000:9.3f} ms "
            f"(max {max(self.overhead_s) * 1000:.3f} ms)",
            f"  overhead / cycle   median {self.overhead_per_cycle_s * 1000:9.3f} ms = {self.ratio:.2%} of the "
            f"in-process median cycle (target <= {TARGET_OVERHEAD:.0%}: {met})",
            f"  served outputs identical to in-process: {'yes' if self.identical else 'NO'}",
        ])


def run_serve_bench(served: ServedModel, cycles: int, observation: Observation | None = None,
                    instruction: str = "put the carrot in the pot", warmup: int = 1) -> ServeBenchResult:
    obs = observation if observation is not None else bench_observation()
    result = ServeBenchResult(served.spec.name, tuple(obs.image.shape))
    local = served.new_policy()
    with PolicyServer(served, "127.0.0.1", 0) as server:
        remote = RemotePolicy(server.url, timeout_s=600.0)
        try:
            for i in range(warmup + cycles):
                order = ("local", "served") if i % 2 == 0 else ("served", "local")
                outs = {}
                for variant in order:
                    policy = local if variant == "local" else remote
                    t0 = time.perf_counter()
                    subtasks = policy.start(instruction, obs)
                    out = policy.act(obs)
                    wall = time.perf_counter() - t0
                    outs[variant] = (subtasks, out)
                    if i < warmup:
                        continue
                    if variant == "local":
                        result.local_s.append(wall)
                    else:
                        result.served_s.append(wall)
                        result.overhead_s.extend(remote.request_overheads[-2:])
                (ls, lo), (rs, ro) = outs["local"], outs["served"]
                if i >= warmup and (ls != rs or lo.texts != ro.texts or lo.chunk != ro.chunk):
                    result.identical = False
        finally:
            remote.close()
    return result
