"""Simulated WidowX 250S (MuJoCo, CPU): tabletop scenes per task, automatic success, and the scripted oracle.

Entry points for the robot trial runner: `SimBackend(robot_spec, task_spec)` (a `RobotBackend`) and
`OraclePolicy(backend)` (the `oracle` model). mujoco is imported on `connect`/`reset`, not here.
"""

from harness.sim.backend import SimBackend
from harness.sim.oracle import OraclePolicy

__all__ = ["OraclePolicy", "SimBackend"]
