"""The simulator's own closed loop, for the oracle, the demo and the tests.

One trial: reset -> policy.start -> cycles of act -> execute the chunk (steps longer than the envelope's limit are
split into equal sub-steps) -> validator -> advance, until the policy is done or the cycle budget is spent; then
the backend's detector scores it. Frames (one per executed step) are saved as a GIF.

Model-driven trials go through the robot trial runner (`vlm2vla robot-trials --robot sim`), which adds the safety
envelope, the operator console and the durable trial log; this loop has neither, so it only drives the trusted
scripted oracle (and test policies).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from harness.actions import ActionStep
from harness.policy.base import Policy, Validator
from harness.policy.validators import NoneValidator
from harness.records.atomic import atomic_path
from harness.robot.backend import MotionCommand, SceneSetup

GIF_WIDTH = 320  # frames are saved at this width (aspect kept) to keep GIFs small


@dataclass
class TrialOutcome:
    task: str
    trial_index: int
    success: bool
    cycles: int
    steps: int
    ik_failures: int
    parse_failures: int
    seconds: float
    subtasks: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # the action text of every cycle
    frames_path: str = ""


def split_step(step: ActionStep, max_step_m: float) -> list[MotionCommand]:
    """One chunk step as motion commands no longer than `max_step_m` each (the gripper acts on the first)."""
    norm = math.sqrt(step.dx ** 2 + step.dy ** 2 + step.dz ** 2)
    n = max(1, math.ceil(norm / max_step_m - 1e-9))
    return [MotionCommand(step.dx / n, step.dy / n, step.dz / n, step.gripper if i == 0 else None)
            for i in range(n)]


def run_trial(backend, policy: Policy, scene: SceneSetup, *, cycle_budget: int,
              validator: Validator | None = None, max_step_m: float = 0.05, out_of_distribution: bool = False,
              frames_path: Path | None = None) -> TrialOutcome:
    """Run one trial on `backend` (a `SimBackend`) and score it with the backend's own detector."""
    validator = validator or NoneValidator()
    t0 = time.perf_counter()
    obs = backend.reset(scene)
    frames = [obs.image] if frames_path is not None else []
    subtasks = policy.start(scene.instruction, obs, out_of_distribution)
    cycles = steps = ik_failures = parse_failures = 0
    actions: list[str] = []
    while not policy.done and cycles < cycle_budget:
        cycles += 1
        out = policy.act(obs)
        actions.append(out.action_text)
        if out.chunk is None:
            parse_failures += 1
            policy.advance(validator.decide(obs, obs, out.subtask, policy.next_subtask))
            continue
        for step in out.chunk:
            for command in split_step(step, max_step_m):
                result = backend.move(command)
                steps += 1
                ik_failures += not result.executed and result.reason == "ik_failure"
                if frames_path is not None:
                    frames.append(backend.render())
        after = backend.observe()
        policy.advance(validator.decide(obs, after, out.subtask, policy.next_subtask))
        obs = after
    success = bool(backend.success())
    saved = ""
    if frames_path is not None:
        saved = str(save_gif(frames, frames_path))
    return TrialOutcome(scene.task, scene.trial_index, success, cycles, steps, ik_failures, parse_failures,
                        round(time.perf_counter() - t0, 3), list(subtasks), actions, saved)


def save_gif(frames: list[np.ndarray], path: Path, fps: float = 4.0) -> Path:
    """Write frames as an animated GIF (atomically: a crash never leaves a truncated file)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = []
    for f in frames:
        img = Image.fromarray(np.asarray(f, np.uint8))
        if img.width > GIF_WIDTH:
            img = img.resize((GIF_WIDTH, round(img.height * GIF_WIDTH / img.width)), Image.BILINEAR)
        images.append(img)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def append_outcome(path: Path, outcome: TrialOutcome) -> None:
    """One JSON line per trial, flushed before returning (the run's log; frames are referenced from it)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(asdict(outcome)) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _done_indices(log: Path) -> dict[int, TrialOutcome]:
    """Trials already recorded in `log` (a crashed or interrupted run resumes after them)."""
    done: dict[int, TrialOutcome] = {}
    if not log.exists():
        return done
    for line in log.read_text().splitlines():
        try:
            row = TrialOutcome(**json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue  # a line cut by a crash: that trial runs again
        done[row.trial_index] = row
    return done


def oracle_trials(robot, task, trials: int, *, seed: int = 0, out_dir: Path | None = None, gif: bool = True,
                  progress=None) -> list[TrialOutcome]:
    """The oracle on `trials` seeded scenes of `task`; with `out_dir`, a resumable JSONL log and one GIF per trial.

    `progress(outcome)` is called after each trial (for a progress bar)."""
    from harness.sim.backend import SimBackend
    from harness.sim.oracle import OraclePolicy
    from harness.sim.scenes import draw_scene

    log = out_dir / "trials.jsonl" if out_dir is not None else None
    done = _done_indices(log) if log is not None else {}
    outcomes = []
    with SimBackend(robot, task) as backend:
        for i in range(trials):
            if i in done:
                outcomes.append(done[i])
            else:
                frames = out_dir / f"trial_{i:03d}.gif" if (out_dir is not None and gif) else None
                outcome = run_trial(backend, OraclePolicy(backend), draw_scene(task, i, seed),
                                    cycle_budget=task.cycle_budget, max_step_m=robot.max_step_cm / 100,
                                    out_of_distribution=task.out_of_distribution, frames_path=frames)
                if log is not None:
                    append_outcome(log, outcome)
                outcomes.append(outcome)
            if progress is not None:
                progress(outcomes[-1])
    return outcomes
