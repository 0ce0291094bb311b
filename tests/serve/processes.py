"""Policy servers in their own processes (what a robot PC talks to): started on a free port that the server
itself picks and writes to a port file, stopped or killed by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.paths import REPO_ROOT


class ServerProcess:
    def __init__(self, args: list[str], tmp: Path, *, env: dict[str, str] | None = None, timeout_s: float = 60.0):
        tmp.mkdir(parents=True, exist_ok=True)
        self.port_file = tmp / f"port-{time.monotonic_ns()}"
        self.log = (tmp / f"{self.port_file.name}.log").open("w")
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
        self.proc = subprocess.Popen([*args, "--port-file", str(self.port_file)], cwd=REPO_ROOT, env=full_env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server {args} did not start: {Path(self.log.name).read_text()[-2000:]}")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())
        self.url = f"ws://127.0.0.1:{self.port}"

    @classmethod
    def fault(cls, tmp: Path, fault: str, at: int, port: int = 0, stall_s: float = 3.0) -> ServerProcess:
        return cls([sys.executable, "-m", "tests.serve.fault_server", "--fault", fault, "--at", str(at),
                    "--stall-s", str(stall_s), "--port", str(port)], tmp)

    @classmethod
    def serve(cls, tmp: Path, model: str = "scripted", port: int = 0) -> ServerProcess:
        """`vlm2vla serve`, the real command."""
        return cls([sys.executable, "-m", "harness.cli.main", "serve", "--model", model, "--port", str(port)], tmp)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
