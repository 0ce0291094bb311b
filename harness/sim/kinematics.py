"""WidowX 250S kinematics from its published screw axes (interbotix `mr_descriptions.wx250s`), and the project's IK.

Forward kinematics is the space-frame product of exponentials T(q) = e^[S1]q1 ... e^[S6]q6 M. The MJCF model
(`harness.sim.mjcf`) is built from the same numbers, and a test checks the two agree at random joint angles.

The IK keeps the gripper pointing straight down with its fingers closing along the world y axis (the way a tabletop
pick is made), which leaves four position unknowns and a closed form: waist from the wrist centre's bearing, shoulder
and elbow from the planar two-link triangle, wrist angle to keep the pitch at 90 degrees, forearm roll 0, and wrist
rotate equal to the waist so the fingers stay aligned with the table. It fails - returns None - when the point is out
of reach or a joint would leave its limits; the caller then does not move, like the real arm.
"""

from __future__ import annotations

import math

import numpy as np

JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")

# Space-frame screw axes (columns of interbotix Slist: w then v) and the home pose of ee_gripper_link.
SLIST = np.array([
    [0, 0, 1, 0, 0, 0],
    [0, 1, 0, -0.11065, 0, 0],
    [0, 1, 0, -0.36065, 0, 0.04975],
    [1, 0, 0, 0, 0.36065, 0],
    [0, 1, 0, -0.36065, 0, 0.29975],
    [1, 0, 0, 0, 0.36065, 0],
], dtype=float)
M_HOME = np.array([
    [1, 0, 0, 0.458325],
    [0, 1, 0, 0.0],
    [0, 0, 1, 0.36065],
    [0, 0, 0, 1],
], dtype=float)

# Joint limits (rad), same order as JOINTS.
LOWER = np.array([-3.14158, -1.88496, -2.14675, -math.pi, -1.74533, -math.pi])
UPPER = np.array([3.14158, 1.98968, 1.6057, math.pi, 2.14675, math.pi])
SLEEP = np.array([0.0, -1.80, 1.55, 0.0, 0.8, 0.0])

# Points on the joint axes at q = 0 (derived from the screw axes: v = -w x q), used by the MJCF and the IK.
SHOULDER = np.array([0.0, 0.0, 0.11065])
ELBOW = np.array([0.04975, 0.0, 0.36065])
WRIST = np.array([0.29975, 0.0, 0.36065])
EE_OFFSET = M_HOME[0, 3] - WRIST[0]  # wrist-angle axis to the end-effector point along the gripper (0.158575 m)

# Planar two-link geometry of the IK: shoulder -> elbow (with its forward offset) and elbow -> wrist.
_UPPER_ARM = ELBOW - SHOULDER
L1 = float(np.hypot(_UPPER_ARM[0], _UPPER_ARM[2]))
L2 = float(WRIST[0] - ELBOW[0])
_BETA = math.atan2(_UPPER_ARM[2], _UPPER_ARM[0])  # angle of the upper arm above the horizontal at q = 0


def _skew(w: np.ndarray) -> np.ndarray:
    return np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])


def screw_exp(screw: np.ndarray, theta: float) -> np.ndarray:
    """e^[S]theta for a unit-rotation screw axis S = (w, v) (Rodrigues' formula and its translation part)."""
    w, v = screw[:3], screw[3:]
    W = _skew(w)
    R = np.eye(3) + math.sin(theta) * W + (1 - math.cos(theta)) * W @ W
    p = (np.eye(3) * theta + (1 - math.cos(theta)) * W + (theta - math.sin(theta)) * W @ W) @ v
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, p
    return T


def forward(q: np.ndarray) -> np.ndarray:
    """4x4 pose of the end effector (ee_gripper_link) in the base frame for joint angles q (rad)."""
    T = np.eye(4)
    for screw, theta in zip(SLIST, q, strict=True):
        T = T @ screw_exp(screw, float(theta))
    return T @ M_HOME


def within_limits(q: np.ndarray, tol: float = 1e-9) -> bool:
    return bool(np.all(q >= LOWER - tol) and np.all(q <= UPPER + tol))


def top_down_rotation() -> np.ndarray:
    """The gripper orientation the IK holds: approach axis (ee x) down, fingers closing along world y."""
    return np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def inverse(position: np.ndarray | tuple[float, float, float], elbow_up: bool = True) -> np.ndarray | None:
    """Joint angles putting the end effector at `position` (m, base frame) pointing down; None if unreachable."""
    x, y, z = (float(v) for v in position)
    if not all(math.isfinite(v) for v in (x, y, z)):
        return None
    wrist = np.array([x, y, z + EE_OFFSET])  # wrist-angle axis straight above the end effector
    r = math.hypot(wrist[0], wrist[1])
    if r < 1e-6:
        return None  # the waist angle is undefined straight above the base
    waist = math.atan2(wrist[1], wrist[0])
    # In the arm's vertical plane: shoulder axis at (0, SHOULDER_z); reach the wrist with links L1 and L2.
    dr, dz = r, wrist[2] - SHOULDER[2]
    d2 = dr * dr + dz * dz
    cos_inner = (d2 - L1 * L1 - L2 * L2) / (2 * L1 * L2)
    if not -1.0 <= cos_inner <= 1.0:
        return None
    inner = math.acos(cos_inner)  # angle between the upper arm and the forearm directions (0 = straight)
    inner = -inner if elbow_up else inner
    # Direction of the upper arm below the horizontal (rotation about +y tips +x downwards, hence the signs).
    phi = math.atan2(dz, dr) - math.atan2(L2 * math.sin(inner), L1 + L2 * math.cos(inner))
    # A shoulder angle s turns the upper arm from its home elevation _BETA to _BETA - s.
    shoulder = _BETA - phi
    # The forearm (elbow -> wrist) is horizontal at q = 0; its elevation is -(shoulder + elbow) = phi + inner.
    elbow = -(phi + inner) - shoulder
    wrist_angle = math.pi / 2 - shoulder - elbow  # total pitch 90 degrees: approach axis straight down
    q = np.array([waist, shoulder, elbow, 0.0, wrist_angle, waist])
    if not within_limits(q):
        return None
    if np.linalg.norm(forward(q)[:3, 3] - wrist + np.array([0, 0, EE_OFFSET])) > 1e-6:  # pragma: no cover
        return None  # guards the closed form against a sign slip; the tests check it never triggers
    return q
