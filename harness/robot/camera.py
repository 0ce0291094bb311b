"""Cameras of the real robot, built from the robot config's `camera` block. SDKs are imported only when used.

- `realsense`: an Intel RealSense (the paper's D435) through pyrealsense2; `device` = serial ("" = first found).
- `opencv`: any V4L2/USB camera through cv2.VideoCapture; `device` = index ("0") or path ("/dev/video2").
Frames are H x W x 3 uint8 RGB at the configured size.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

from harness.specs.robot import CameraSpec


class Camera(Protocol):
    def read(self) -> np.ndarray: ...

    def close(self) -> None: ...


def _import(module: str, pip_name: str, kind: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeError(f"camera.kind {kind!r} needs the Python package {pip_name!r} ({module} is not importable: "
                           f"{e}); install it with `pip install {pip_name}` (OpenCV also comes with `pip install -e '.[robot]'`), or "
                           "set camera.kind in experiments/robots/<robot>.yaml") from e


class RealSenseCamera:
    def __init__(self, spec: CameraSpec):
        rs = _import("pyrealsense2", "pyrealsense2", "realsense")
        self.pipeline = rs.pipeline()
        config = rs.config()
        if spec.device:
            config.enable_device(spec.device)
        config.enable_stream(rs.stream.color, spec.width, spec.height, rs.format.rgb8, 30)
        self.pipeline.start(config)

    def read(self) -> np.ndarray:
        frames = self.pipeline.wait_for_frames()
        color = frames.get_color_frame()
        if not color:
            raise RuntimeError("the RealSense camera returned no colour frame")
        return np.asanyarray(color.get_data()).copy()

    def close(self) -> None:
        self.pipeline.stop()


class OpenCVCamera:
    def __init__(self, spec: CameraSpec):
        self.cv2 = _import("cv2", "opencv-python-headless", "opencv")
        device: int | str = int(spec.device) if spec.device.isdigit() else (spec.device or 0)
        self.cap = self.cv2.VideoCapture(device)
        if not self.cap.isOpened():
            raise RuntimeError(f"cannot open camera device {device!r} (camera.device in the robot config)")
        self.cap.set(self.cv2.CAP_PROP_FRAME_WIDTH, spec.width)
        self.cap.set(self.cv2.CAP_PROP_FRAME_HEIGHT, spec.height)
        self.size = (spec.width, spec.height)

    def read(self) -> np.ndarray:
        ok, frame = self.cap.read()
        if not ok or frame is None:
            raise RuntimeError("the camera returned no frame")
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = self.cv2.resize(frame, self.size)
        return self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.cap.release()


def make_camera(spec: CameraSpec) -> Camera:
    if spec.kind == "realsense":
        return RealSenseCamera(spec)
    if spec.kind == "opencv":
        return OpenCVCamera(spec)
    raise RuntimeError("the real robot needs a camera for the policy: set camera.kind to realsense or opencv in "
                       "experiments/robots/<robot>.yaml")
