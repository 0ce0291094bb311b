"""Fault injection against real policy server processes: the server dies (SIGKILL), stalls past the spec's timeout,
or answers garbage in the middle of a trial. Each time the arm is parked in its sleep pose at once, the trial is
scored `invalid` with the reason (trial log note, cycles.jsonl), the score already given is untouched, the session
ends, and the same session resumes once the server is back and completes."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("openpi_client")  # the `serve` extra

from harness.policy.validators import NoneValidator  # noqa: E402
from harness.robot.console import OperatorConsole  # noqa: E402
from harness.robot.factory import model_policy  # noqa: E402
from harness.robot.session import Session, SessionConfig  # noqa: E402
from harness.robot.triallog import TrialLog  # noqa: E402
from harness.specs import load_robot, load_task  # noqa: E402
from harness.specs.model import ModelSpec  # noqa: E402
from tests.robot.fakes import RecordingBackend  # noqa: E402
from tests.serve.processes import ServerProcess  # noqa: E402

pytestmark = pytest.mark.timeout(240)

ACTS_PER_TRIAL = 4  # the built-in script with no validator: malformed (retry), reach, grasp, lift
FAULT_AT = ACTS_PER_TRIAL + 3  # trial 1's third cycle: two cycles of it already ran (one moved the arm)
STALL_S, TIMEOUT_S = 4.0, 1.0


def served(url: str) -> ModelSpec:
    """A `type: remote` spec; its name, not its URL, keys the trial log (the server may come back elsewhere)."""
    return ModelSpec(name="served", type="remote", url=url, timeout_s=TIMEOUT_S, connect_timeout_s=5.0)


def session(url: str, tmp: Path, answers: str) -> tuple[Session, RecordingBackend, TrialLog]:
    task, robot = load_task("pickup"), load_robot("dry-run")
    cfg = SessionConfig(task, robot, ["served"], "human", 2, 0, None, "none", tmp / "out")
    policy = model_policy(served(url))  # the session factory's path: connects now
    backend, log = RecordingBackend(), TrialLog(tmp / "trials.sqlite")
    console = OperatorConsole(io.StringIO(answers), io.StringIO(), poll_stop=False)
    return Session(cfg, backend, {"served": policy}.__getitem__, NoneValidator(), log, console), backend, log


def rows(log: TrialLog) -> list[tuple]:
    return [(r.trial_index, r.outcome, r.attempt, r.note, r.stop_reason, r.log_path) for r in log.rows()]


@pytest.mark.parametrize("fault, reason", [
    ("die", "closed the connection"),
    ("stall", rf"no infer reply within {TIMEOUT_S} s \(the server stalled\)"),
    ("garbage", "malformed cycle reply"),
])
def test_fault_mid_trial_parks_the_arm_scores_invalid_and_resumes(tmp_path, fault, reason):
    import re

    server = ServerProcess.fault(tmp_path / "srv", fault, FAULT_AT, stall_s=STALL_S)
    try:
        s, backend, log = session(server.url, tmp_path, "s\ngood\n")  # only trial 0 is ever asked for a score
        t0 = time.monotonic()
        summary = s.run()
        elapsed = time.monotonic() - t0
        if fault == "stall":
            assert elapsed < STALL_S - 1  # the robot gave up after the timeout, it did not wait for the reply
        assert summary.end_reason == "policy_server_fault" and summary.remaining == 1
        # parked at the fault (after trial 1's two cycles), then once more leaving the session
        assert backend.events == ["connect", "reset", "reset", "sleep", "sleep", "disconnect"]
        before = rows(log)
        assert [r[:3] for r in before] == [(0, "success", 1), (1, "invalid", 1)]
        assert before[0][3] == "good" and before[1][4] == "policy_server_fault"
        assert before[1][3].startswith("policy server fault: ") and re.search(reason, before[1][3])
        lines = [json.loads(x) for x in (Path(before[1][5])).read_text().splitlines()]
        assert [x["event"] for x in lines] == ["start", "cycle", "cycle", "fault", "end"]
        assert lines[3]["cycle"] == 3 and re.search(reason, lines[3]["reason"])
        assert lines[4]["stop_reason"] == "policy_server_fault"
        log.close()

        if fault == "die":  # the server is back: a new process (another port; the spec's name is the model)
            server.stop()
            server = ServerProcess.serve(tmp_path / "srv2")
        else:
            time.sleep(STALL_S if fault == "stall" else 0)  # a stalled server is back once its request ends
        s, backend, log = session(server.url, tmp_path, "f\nslipped\n")
        summary = s.run()
        assert summary.end_reason == "complete" and summary.remaining == 0 and summary.scored == 1
        after = rows(log)
        assert after[:2] == before  # nothing already scored is touched
        assert [r[:3] for r in after] == [(0, "success", 1), (1, "invalid", 1), (1, "failure", 2)]
        assert backend.events == ["connect", "reset", "sleep", "disconnect"]
        log.close()
    finally:
        server.stop()
