"""The tabletop objects of the task specs as MuJoCo primitives: shape, colour, mass, how to grasp, where to place.

Every object a task names (target, destination, distractor pool) has an entry here; an unknown name is an error that
lists the known ones. Graspable objects fit the open gripper (at most ~3.5 cm across the world y axis, the direction
the fingers close in). Receptacles (pot, plate) are static and define the region a placed object must end in.
Colours are distinct per object so a policy (and a person looking at a frame) can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Geom:
    """One primitive in the object's body frame (the body rests at `SimObject.rest_z` above the table)."""

    type: str  # box | sphere | capsule | cylinder | ellipsoid
    size: tuple[float, ...]  # MuJoCo half-sizes
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 1.0)
    euler: tuple[float, float, float] = (0.0, 0.0, 0.0)  # degrees, about x then y then z (body-fixed)
    collide: bool = True
    fromto: tuple[float, float, float, float, float, float] | None = None  # capsules/cylinders: end points


@dataclass(frozen=True)
class Region:
    """Where a placed object must end: its centre within `radius` of the receptacle's, its lowest point between
    z_min and z_max above the receptacle's base."""

    radius: float
    z_min: float
    z_max: float


@dataclass(frozen=True)
class SimObject:
    name: str
    geoms: tuple[Geom, ...]
    footprint: float  # radius (m) of the disc the object covers on the table, for spacing
    mass: float = 0.05  # kg (static objects ignore it)
    static: bool = False  # receptacles do not move
    grasp_z: float | None = None  # end-effector height (m above the table) for a top-down grasp; None = not graspable
    region: Region | None = None  # receptacles only
    rest_z: float = 0.0  # height of the object's frame above the table when it rests (free objects spawn there)
    tags: tuple[str, ...] = field(default_factory=tuple)


ORANGE, GREEN, DARK_GREEN = (0.95, 0.42, 0.05, 1), (0.2, 0.6, 0.15, 1), (0.1, 0.4, 0.1, 1)
YELLOW, PALE_YELLOW, GOLD = (1.0, 0.85, 0.1, 1), (0.98, 0.92, 0.45, 1), (0.95, 0.75, 0.1, 1)
PURPLE, SILVER, RED, BLUE, NAVY = (0.4, 0.1, 0.45, 1), (0.75, 0.77, 0.8, 1), (0.85, 0.1, 0.1, 1), \
    (0.15, 0.35, 0.85, 1), (0.1, 0.12, 0.35, 1)
SKIN, BLACK, WHITE, GREY = (0.96, 0.78, 0.62, 1), (0.05, 0.05, 0.05, 1), (0.96, 0.96, 0.93, 1), (0.32, 0.33, 0.36, 1)


def _pot() -> SimObject:
    """A round pot: a floor, 16 wall staves and two handles (a container the carrot can be dropped into)."""
    import math

    inner, wall, height = 0.055, 0.006, 0.055
    geoms = [Geom("cylinder", (inner + wall, 0.003), (0, 0, 0.003), GREY)]
    n = 16
    half_width = (inner + wall) * math.tan(math.pi / n) + 0.001
    for i in range(n):
        a = 2 * math.pi * i / n
        r = inner + wall / 2
        geoms.append(Geom("box", (wall / 2, half_width, height / 2), (r * math.cos(a), r * math.sin(a), height / 2),
                          GREY, (0, 0, math.degrees(a))))
    for side in (-1, 1):
        geoms.append(Geom("box", (0.012, 0.008, 0.004), (side * (inner + wall + 0.012), 0, height - 0.01), BLACK))
    return SimObject("pot", tuple(geoms), footprint=inner + wall + 0.024, static=True,
                     region=Region(radius=inner - 0.005, z_min=0.0, z_max=height), tags=("receptacle",))


def _plate() -> SimObject:
    return SimObject("plate", (Geom("cylinder", (0.075, 0.004), (0, 0, 0.004), WHITE),
                               Geom("cylinder", (0.05, 0.0005), (0, 0, 0.0085), (0.85, 0.88, 0.95, 1), collide=False)),
                     footprint=0.075, static=True, region=Region(radius=0.07, z_min=0.004, z_max=0.04),
                     tags=("receptacle",))


CATALOGUE: dict[str, SimObject] = {o.name: o for o in [
    SimObject("carrot", (Geom("capsule", (0.0125,), rgba=ORANGE, fromto=(-0.03, 0, 0, 0.03, 0, 0)),
                         Geom("box", (0.012, 0.006, 0.004), (0.052, 0, 0), GREEN, collide=False),
                         Geom("box", (0.01, 0.003, 0.006), (0.05, 0, 0.002), DARK_GREEN, (0, 0, 25), collide=False)),
              footprint=0.055, mass=0.04, grasp_z=0.016, rest_z=0.0125),
    _pot(),
    _plate(),
    SimObject("spoon", (Geom("capsule", (0.004,), rgba=SILVER, fromto=(-0.06, 0, 0, 0.03, 0, 0)),
                        Geom("ellipsoid", (0.02, 0.013, 0.004), (0.045, 0, 0), SILVER)),
              footprint=0.07, mass=0.03, grasp_z=0.012, rest_z=0.004),
    SimObject("eggplant", (Geom("ellipsoid", (0.045, 0.024, 0.02), (0, 0, 0), PURPLE),
                           Geom("cylinder", (0.01,), rgba=DARK_GREEN, collide=False, fromto=(0.04, 0, 0, 0.056, 0, 0))),
              footprint=0.055, mass=0.06, grasp_z=0.02, rest_z=0.02),
    SimObject("corn", (Geom("capsule", (0.015,), rgba=GOLD, fromto=(-0.035, 0, 0, 0.035, 0, 0)),
                       Geom("ellipsoid", (0.025, 0.014, 0.01), (-0.055, 0, 0), (0.55, 0.75, 0.3, 1), collide=False)),
              footprint=0.06, mass=0.06, grasp_z=0.018, rest_z=0.015),
    SimObject("banana", (Geom("capsule", (0.012,), rgba=PALE_YELLOW, fromto=(-0.045, 0.014, 0, 0, -0.004, 0)),
                         Geom("capsule", (0.012,), rgba=PALE_YELLOW, fromto=(0, -0.004, 0, 0.045, 0.014, 0)),
                         Geom("sphere", (0.006,), (0.052, 0.019, 0), (0.35, 0.25, 0.1, 1), collide=False)),
              footprint=0.06, mass=0.05, grasp_z=0.016, rest_z=0.012),
    SimObject("sponge", (Geom("box", (0.04, 0.014, 0.01), (0, 0, 0.01), YELLOW),
                         Geom("box", (0.04, 0.014, 0.005), (0, 0, 0.025), (0.1, 0.55, 0.2, 1))),
              footprint=0.045, mass=0.02, grasp_z=0.02, rest_z=0.0),
    SimObject("ash-figure", (Geom("cylinder", (0.017, 0.003), (0, 0, 0.003), BLACK),
                             Geom("cylinder", (0.01, 0.012), (0, 0, 0.018), NAVY),
                             Geom("cylinder", (0.013, 0.012), (0, 0, 0.041), BLUE),
                             Geom("sphere", (0.011,), (0, 0, 0.062), SKIN),
                             Geom("cylinder", (0.012, 0.003), (0, 0, 0.073), RED),
                             Geom("box", (0.008, 0.006, 0.0015), (0.013, 0, 0.071), RED, collide=False)),
              footprint=0.035, mass=0.04, grasp_z=0.04, rest_z=0.0),
    SimObject("pikachu-plush", (Geom("cylinder", (0.024, 0.004), (0, 0, 0.004), YELLOW),
                                Geom("ellipsoid", (0.025, 0.03, 0.025), (0, 0, 0.03), YELLOW),
                                Geom("sphere", (0.022,), (0, 0, 0.07), YELLOW),
                                Geom("box", (0.004, 0.004, 0.018), (0, 0.014, 0.1), YELLOW, (20, 0, 0)),
                                Geom("box", (0.004, 0.004, 0.018), (0, -0.014, 0.1), YELLOW, (-20, 0, 0)),
                                Geom("box", (0.0045, 0.0045, 0.006), (0, 0.02, 0.115), BLACK, (20, 0, 0), collide=False),
                                Geom("box", (0.0045, 0.0045, 0.006), (0, -0.02, 0.115), BLACK, (-20, 0, 0), collide=False),
                                Geom("sphere", (0.006,), (0.019, 0.011, 0.066), RED, collide=False),
                                Geom("sphere", (0.006,), (0.019, -0.011, 0.066), RED, collide=False)),
              footprint=0.04, mass=0.05, grasp_z=0.065, rest_z=0.0),
    SimObject("toy-duck", (Geom("cylinder", (0.022, 0.003), (0, 0, 0.003), (1.0, 0.93, 0.2, 1)),
                           Geom("ellipsoid", (0.03, 0.024, 0.02), (0, 0, 0.022), (1.0, 0.93, 0.2, 1)),
                           Geom("sphere", (0.015,), (0.012, 0, 0.05), (1.0, 0.93, 0.2, 1)),
                           Geom("box", (0.008, 0.006, 0.003), (0.03, 0, 0.048), (1.0, 0.5, 0.0, 1))),
              footprint=0.04, mass=0.03, grasp_z=0.045, rest_z=0.0),
    SimObject("toy-car", (Geom("box", (0.035, 0.016, 0.008), (0, 0, 0.014), RED),
                          Geom("box", (0.016, 0.013, 0.007), (-0.004, 0, 0.029), (0.55, 0.8, 0.95, 1)),
                          *(Geom("cylinder", (0.007, 0.003), (sx * 0.022, sy * 0.017, 0.007), BLACK, (90, 0, 0))
                            for sx in (-1, 1) for sy in (-1, 1))),
              footprint=0.045, mass=0.05, grasp_z=0.022, rest_z=0.0),
]}


def get_object(name: str) -> SimObject:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"the simulator has no object named {name!r}; known objects: "
                         f"{', '.join(sorted(CATALOGUE))} (add it to harness/sim/objects.py)") from None
