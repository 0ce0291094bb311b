"""A simple rendered tabletop (PIL): table, coloured objects, the gripper with its shadow, seen from behind the arm.

Used by the fixture writer to give every raw frame a picture that matches its state (where the gripper is, whether
it is open, what it holds), so the images a model is trained on carry the same information as the numbers.
Projection: robot frame (+x forward = up the image, +y left = image left, +z up = up the image, smaller with depth).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 640, 480
X_RANGE = (0.10, 0.45)  # forward extent of the table (m)
Y_RANGE = (-0.22, 0.26)  # left extent (m)
_HORIZON = 150  # image row of the far table edge
_NEAR = 470  # image row of the near table edge
_Z_PIXELS = 600.0  # image rows per metre of height at the near edge


@dataclass(frozen=True)
class SceneObject:
    name: str  # e.g. "carrot", "red block", "pot"
    shape: str  # ellipse | box | ring | disc | bar
    colour: tuple[int, int, int]
    size: float  # metres (largest extent on the table)
    receptacle: str = ""  # "in" for pots/bowls, "on" for plates/towels, "" for graspable things


def _depth_scale(x: float) -> float:
    t = (x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0])
    return 1.0 - 0.45 * t  # far things are smaller


def project(x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
    """Image (column, row) of a point and the pixel scale (pixels per metre) at its depth."""
    s = _depth_scale(x)
    t = (x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0])
    row = _NEAR - t * (_NEAR - _HORIZON) - z * _Z_PIXELS * s
    ppm = 1250.0 * s
    col = WIDTH / 2 - (y - (Y_RANGE[0] + Y_RANGE[1]) / 2) * ppm
    return col, row, ppm


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, x: float, y: float, z: float = 0.0) -> None:
    col, row, ppm = project(x, y, z)
    r = obj.size * ppm / 2
    squash = 0.6  # the table is seen at an angle: circles become ellipses
    box = (col - r, row - r * squash, col + r, row + r * squash)
    dark = tuple(max(0, c - 70) for c in obj.colour)
    if obj.shape == "ellipse":
        draw.ellipse((col - r, row - r * 0.35, col + r, row + r * 0.35), fill=obj.colour, outline=dark, width=2)
    elif obj.shape == "box":
        draw.rectangle((col - r * 0.7, row - r * 0.7 * squash - r * 0.5, col + r * 0.7, row + r * 0.7 * squash),
                       fill=obj.colour, outline=dark, width=2)
    elif obj.shape == "bar":
        draw.rectangle((col - r, row - r * 0.12, col + r, row + r * 0.12), fill=obj.colour, outline=dark, width=2)
    elif obj.shape == "ring":
        draw.ellipse(box, fill=dark, outline=obj.colour, width=max(3, int(r * 0.25)))
    else:  # disc: plates, towels
        draw.ellipse(box, fill=obj.colour, outline=dark, width=2)


def background(objects: dict[str, tuple[SceneObject, tuple[float, float]]]) -> Image.Image:
    """Wall, table and the objects lying on it (receptacles first so things inside them are drawn on top)."""
    img = Image.new("RGB", (WIDTH, HEIGHT), (196, 204, 214))
    draw = ImageDraw.Draw(img)
    corners = [project(X_RANGE[1], Y_RANGE[1]), project(X_RANGE[1], Y_RANGE[0]),
               project(X_RANGE[0], Y_RANGE[0]), project(X_RANGE[0], Y_RANGE[1])]
    draw.polygon([(c, r) for c, r, _ in corners], fill=(150, 112, 78), outline=(110, 80, 55))
    ordered = sorted(objects.values(), key=lambda item: (item[0].receptacle == "", -item[1][0]))
    for obj, (x, y) in ordered:
        _draw_object(draw, obj, x, y)
    return img


def frame(base: Image.Image, gripper_xyz: tuple[float, float, float], gripper_open: bool,
          held: SceneObject | None = None) -> Image.Image:
    """One camera frame: the background plus the gripper (and what it holds) at `gripper_xyz`."""
    img = base.copy()
    draw = ImageDraw.Draw(img)
    x, y, z = gripper_xyz
    col, row, ppm = project(x, y, 0.0)
    shadow = 0.025 * ppm
    draw.ellipse((col - shadow, row - shadow * 0.4, col + shadow, row + shadow * 0.4), fill=(95, 70, 50))
    if held is not None:
        _draw_object(draw, held, x, y, max(0.0, z - 0.03))
    gc, gr, gppm = project(x, y, z)
    half_gap = (0.022 if gripper_open else 0.008) * gppm
    finger_w, finger_h = 0.006 * gppm, 0.05 * gppm
    draw.rectangle((gc - 0.03 * gppm, gr - finger_h - 0.2 * gppm, gc + 0.03 * gppm, gr - finger_h),
                   fill=(45, 45, 52))  # wrist, reaching up out of view
    draw.rectangle((gc - 0.035 * gppm, gr - finger_h - 0.012 * gppm, gc + 0.035 * gppm, gr - finger_h),
                   fill=(30, 30, 35))
    for side in (-1, 1):
        fx = gc + side * half_gap
        draw.rectangle((fx - finger_w / 2, gr - finger_h, fx + finger_w / 2, gr), fill=(60, 62, 70))
    return img


def jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
