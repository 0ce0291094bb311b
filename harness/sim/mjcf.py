"""The MJCF of one tabletop scene: the WidowX 250S (from `harness.sim.kinematics`), a table, objects and a camera.

Written here from the published kinematics - no meshes. Each link's body frame sits on its joint axis with the
identity orientation at q = 0, so the chain reproduces the screw axes exactly (a test compares the end-effector site
with the product of exponentials). Links are capsules and boxes; only the gripper collides (the arm above the
wrist stays clear of the table in top-down work, and excluding it keeps contact solving cheap).

Rendering on a CPU (Mesa llvmpipe) is the cost of a cycle, so the scene renders without multisampling and without
reflections (each would double or triple the time per frame); shadows stay (one depth pass) for depth cues.

The gripper has two prismatic fingers (interbotix range 0.015-0.037 m each) driven by force-limited position
actuators: closing on an object squeezes it with a bounded force, and high-friction pads (elliptic cones, condim 4)
hold it through a lift without any weld.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np

from harness.sim import kinematics as kin
from harness.sim.objects import Geom, SimObject

FINGER_MIN, FINGER_MAX = 0.015, 0.037  # finger joint range (m)
PAD_OFFSET = FINGER_MIN  # pad inner faces meet at FINGER_MIN, so the opening is 2 * (q - FINGER_MIN)
FINGER_LENGTH = 0.055  # palm to fingertip along the approach axis
TIP_BEYOND_EE = 0.01  # fingertips reach this far past the end-effector point
TABLE_HALF = (0.45, 0.5)  # table top half-extent in x and y around TABLE_CENTRE
TABLE_CENTRE = (0.25, 0.0)
CAMERA_NAME = "third_person"
CAMERA_POS = (0.8, 0.32, 0.5)  # in front of and beside the robot, looking back at it over the table
CAMERA_LOOKAT = (0.22, 0.0, 0.16)
CAMERA_FOVY = 50.0

# Position-servo gains per arm joint (N m / rad) and damping (N m s / rad): stiff enough to track a 5 cm step within
# a millimetre, damped so a carried object does not swing. Gravity is compensated (gravcomp), as the real servos do.
ARM_KP = (300.0, 400.0, 300.0, 100.0, 100.0, 50.0)
ARM_DAMPING = (8.0, 10.0, 8.0, 2.0, 2.0, 1.0)
FINGER_KP, FINGER_FORCE = 400.0, 6.0  # N/m, N: the squeeze on a grasped object is at most FINGER_FORCE per finger


@dataclass(frozen=True)
class Placement:
    """An object and where its frame goes (x, y on the table, yaw in degrees)."""

    obj: SimObject
    x: float
    y: float
    yaw_deg: float = 0.0


def _f(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _geom_xml(g: Geom, name: str, cls: str, mass: float | None = None) -> str:
    attrs = [f'name="{name}"', f'type="{g.type}"', f'class="{cls}"', f'size="{_f(g.size)}"', f'rgba="{_f(g.rgba)}"']
    if g.fromto is not None:
        attrs.append(f'fromto="{_f(g.fromto)}"')
    else:
        attrs.append(f'pos="{_f(g.pos)}"')
        if any(g.euler):
            attrs.append(f'euler="{_f(math.radians(a) for a in g.euler)}"')
    if not g.collide:
        attrs.append('contype="0" conaffinity="0" mass="0"')
    elif mass is not None:
        attrs.append(f'mass="{mass:.6g}"')
    return f"<geom {' '.join(attrs)}/>"


def _object_xml(p: Placement) -> str:
    o = p.obj
    cls = "static_object" if o.static else "object"
    share = None if o.static else o.mass / sum(g.collide for g in o.geoms)  # the object's mass over its solid parts
    geoms = "\n      ".join(_geom_xml(g, f"{o.name}/{i}", cls, share) for i, g in enumerate(o.geoms))
    yaw = math.radians(p.yaw_deg)
    quat = _f((math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)))
    if o.static:
        return f'<body name={quoteattr(o.name)} pos="{_f((p.x, p.y, o.rest_z))}" quat="{quat}">\n      {geoms}\n    </body>'
    return (f'<body name={quoteattr(o.name)} pos="{_f((p.x, p.y, o.rest_z + 0.001))}" quat="{quat}">\n'
            f'      <freejoint name={quoteattr(o.name + "/free")}/>\n'
            f'      {geoms}\n    </body>')


def _camera_xyaxes(pos, target) -> str:
    """MuJoCo camera axes looking from `pos` at `target` with world z up."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return _f([*right, *up])


def _arm_xml() -> str:
    """The six-joint chain; body frames on the joint axes (see kinematics.SHOULDER/ELBOW/WRIST)."""
    s, e, w = kin.SHOULDER, kin.ELBOW, kin.WRIST
    lo, hi = kin.LOWER, kin.UPPER
    roll_x = e[0] + 0.10  # forearm roll joint along the forearm (any point on its axis gives the same kinematics)
    rot_x = w[0] + 0.065  # wrist rotate joint
    palm_x = kin.M_HOME[0, 3] - (FINGER_LENGTH - TIP_BEYOND_EE)  # where the fingers leave the gripper body
    ee_local = kin.M_HOME[0, 3] - rot_x
    finger_len_half = FINGER_LENGTH / 2
    finger_cx = palm_x - rot_x + finger_len_half

    def joint(name: str, i: int, axis: str, pos: str = "0 0 0") -> str:
        return (f'<joint name="{name}" axis="{axis}" pos="{pos}" range="{lo[i]:.6g} {hi[i]:.6g}" '
                f'damping="{ARM_DAMPING[i]}"/>')

    def finger(side: str, sign: int) -> str:
        # Body origin on the wrist-rotate axis; the slide joint moves it sideways by q (m); the pad's inner face
        # sits at (q - PAD_OFFSET) from the centre line.
        pad_half = 0.004
        y = sign * (-PAD_OFFSET + pad_half)
        return f"""
              <body name="{side}_finger" pos="0 0 0">
                <joint name="{side}_finger" type="slide" axis="0 {sign} 0" range="{FINGER_MIN} {FINGER_MAX}"
                       damping="2" armature="0.01"/>
                <geom name="{side}_pad" class="pad" type="box" size="{finger_len_half:.4f} {pad_half} 0.011"
                      pos="{finger_cx:.5f} {y:.4f} 0"/>
                <geom class="visual_dark" type="box" size="0.012 0.006 0.013" pos="{palm_x - rot_x - 0.006:.5f} {y + sign * 0.008:.4f} 0"/>
              </body>"""

    return f"""
    <body name="base_link" pos="0 0 0">
      <geom class="visual_dark" type="box" size="0.06 0.06 0.02" pos="0 0 0.02"/>
      <geom class="visual_dark" type="cylinder" size="0.05 0.015" pos="0 0 0.055"/>
      <body name="shoulder_link" pos="0 0 0" gravcomp="1">
        {joint("waist", 0, "0 0 1")}
        <geom class="visual_arm" type="cylinder" size="0.035 0.025" pos="0 0 0.085"/>
        <body name="upper_arm_link" pos="{_f(s)}" gravcomp="1">
          {joint("shoulder", 1, "0 1 0")}
          <geom class="visual_dark" type="cylinder" size="0.03 0.035" euler="1.5708 0 0"/>
          <geom class="visual_arm" type="capsule" size="0.024" fromto="0 0 0 {e[0] - s[0]:.6g} 0 {e[2] - s[2]:.6g}"/>
          <body name="upper_forearm_link" pos="{_f(e - s)}" gravcomp="1">
            {joint("elbow", 2, "0 1 0")}
            <geom class="visual_dark" type="cylinder" size="0.027 0.032" euler="1.5708 0 0"/>
            <geom class="visual_arm" type="capsule" size="0.022" fromto="0 0 0 {roll_x - e[0]:.4f} 0 0"/>
            <body name="lower_forearm_link" pos="{roll_x - e[0]:.6g} 0 0" gravcomp="1">
              {joint("forearm_roll", 3, "1 0 0")}
              <geom class="visual_arm" type="capsule" size="0.019" fromto="0 0 0 {w[0] - roll_x:.4f} 0 0"/>
              <body name="wrist_link" pos="{w[0] - roll_x:.6g} 0 0" gravcomp="1">
                {joint("wrist_angle", 4, "0 1 0")}
                <geom class="visual_dark" type="cylinder" size="0.022 0.028" euler="1.5708 0 0"/>
                <geom class="visual_arm" type="capsule" size="0.017" fromto="0 0 0 {rot_x - w[0]:.4f} 0 0"/>
                <body name="gripper_link" pos="{rot_x - w[0]:.6g} 0 0" gravcomp="1">
                  {joint("wrist_rotate", 5, "1 0 0")}
                  <geom name="gripper_body" class="gripper" type="box" size="{(palm_x - rot_x) / 2:.4f} 0.036 0.018"
                        pos="{(palm_x - rot_x) / 2:.4f} 0 0"/>
                  <geom class="visual_dark" type="box" size="0.004 0.045 0.02" pos="{palm_x - rot_x - 0.004:.4f} 0 0"/>
                  <site name="ee" pos="{ee_local:.6g} 0 0" size="0.004" rgba="1 0 0 0.6" group="4"/>{finger("left", 1)}{finger("right", -1)}
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>"""


def scene_xml(placements: list[Placement], width: int = 640, height: int = 480, offsamples: int = 0) -> str:
    """A complete MJCF document for one scene (the offscreen buffer fits the camera resolution).

    `offsamples` is the multisampling of offscreen frames: 0 here; MuJoCo's default, 4, is the benchmark's baseline."""
    objects = "\n    ".join(_object_xml(p) for p in placements)
    actuators = "\n    ".join(
        f'<position name="{j}" joint="{j}" kp="{ARM_KP[i]}" ctrlrange="{kin.LOWER[i]:.6g} {kin.UPPER[i]:.6g}" '
        f'forcerange="-40 40"/>' for i, j in enumerate(kin.JOINTS))
    fingers = "\n    ".join(
        f'<position name="{side}_finger" joint="{side}_finger" kp="{FINGER_KP}" ctrlrange="{FINGER_MIN} {FINGER_MAX}" '
        f'forcerange="-{FINGER_FORCE} {FINGER_FORCE}"/>' for side in ("left", "right"))
    tx, ty = TABLE_CENTRE
    return f"""<mujoco model="widowx250s_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual>
    <global offwidth="{max(width, 64)}" offheight="{max(height, 64)}"/>
    <quality shadowsize="1024" offsamples="{offsamples}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5" specular="0.1 0.1 0.1"/>
  </visual>
  <default>
    <geom contype="0" conaffinity="0" density="0"/>
    <joint armature="0.05"/>
    <default class="visual_arm"><geom rgba="0.12 0.12 0.13 1" density="600"/></default>
    <default class="visual_dark"><geom rgba="0.05 0.05 0.05 1" density="600"/></default>
    <default class="gripper"><geom contype="1" conaffinity="1" rgba="0.08 0.08 0.09 1" mass="0.1"/></default>
    <default class="pad"><geom contype="1" conaffinity="1" condim="4" friction="1.5 0.02 0.002" rgba="0.25 0.25 0.27 1"
      mass="0.02" solref="0.01 1" solimp="0.95 0.99 0.001"/></default>
    <default class="object"><geom contype="1" conaffinity="1" condim="6" friction="1.0 0.01 0.002"/></default>
    <default class="static_object"><geom contype="1" conaffinity="1" condim="3" friction="0.8 0.01 0.001"/></default>
  </default>
  <asset>
    <texture name="wood" type="2d" builtin="checker" rgb1="0.62 0.47 0.32" rgb2="0.58 0.44 0.3" width="256" height="256"/>
    <material name="table" texture="wood" texrepeat="6 6"/>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.82 0.85 0.88" rgb2="0.55 0.58 0.62" width="64" height="64"/>
  </asset>
  <worldbody>
    <light name="key" pos="0.3 -0.4 1.2" dir="0 0.3 -1" diffuse="0.6 0.6 0.6" castshadow="true"/>
    <light name="fill" pos="0.8 0.6 0.8" dir="-0.5 -0.5 -0.6" diffuse="0.25 0.25 0.25" castshadow="false"/>
    <geom name="table" type="box" size="{TABLE_HALF[0]} {TABLE_HALF[1]} 0.02" pos="{tx} {ty} -0.02" material="table"
          contype="1" conaffinity="1" condim="3" friction="0.8 0.01 0.001"/>
    <geom name="floor" type="plane" size="2 2 0.1" pos="0 0 -0.75" rgba="0.35 0.36 0.38 1" contype="1" conaffinity="1"/>
    <camera name="{CAMERA_NAME}" pos="{_f(CAMERA_POS)}" xyaxes="{_camera_xyaxes(CAMERA_POS, CAMERA_LOOKAT)}"
            fovy="{CAMERA_FOVY}"/>
    {_arm_xml()}
    {objects}
  </worldbody>
  <contact>
    <exclude body1="left_finger" body2="right_finger"/>
  </contact>
  <actuator>
    {actuators}
    {fingers}
  </actuator>
</mujoco>
"""
