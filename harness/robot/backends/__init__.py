"""Robot backends behind one interface, each built from its kind's config (`harness.specs.robot`). The simulator's
backend is built by `harness.sim.factory` (the robot layer does not import `harness.sim`)."""

from __future__ import annotations

from harness.robot.backend import RobotBackend
from harness.specs.robot import DryRunConfig, RobotSpec, WidowXConfig


def make_backend(robot: RobotSpec) -> RobotBackend:
    """dry-run and widowx; `sim` lives in harness.sim (see harness.sim.factory)."""
    if isinstance(robot, DryRunConfig):
        from harness.robot.backends.dry_run import DryRunBackend

        return DryRunBackend(robot)
    if isinstance(robot, WidowXConfig):
        from harness.robot.backends.widowx import WidowXBackend

        return WidowXBackend(robot)
    raise ValueError(f"robot {robot.name!r}: backend {robot.backend!r} is not built by harness.robot "
                     "(the simulator comes from harness.sim)")
