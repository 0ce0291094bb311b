"""`vlm2vla sim locate`: the probe places an object that the images show, and cannot place one they do not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from harness.sim.locate import first_frames, locate, ridge_cv_predict
from harness.sim.record import SCENE_FILE

X_RANGE, Y_RANGE = (0.22, 0.40), (-0.15, 0.15)


def write_episodes(root, n: int, shows_object: bool, size: int = 32) -> None:
    """`n` recorded-episode stand-ins: a scene file and a first frame with a bright square where the block lies
    (or, when `shows_object` is false, at a position unrelated to it)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        x, y = rng.uniform(*X_RANGE), rng.uniform(*Y_RANGE)
        drawn = (x, y) if shows_object else (rng.uniform(*X_RANGE), rng.uniform(*Y_RANGE))
        row = int((drawn[0] - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * (size - 8))
        col = int((drawn[1] - Y_RANGE[0]) / (Y_RANGE[1] - Y_RANGE[0]) * (size - 8))
        image = np.full((size, size, 3), 60, np.uint8)
        image[row:row + 8, col:col + 8] = (250, 120, 20)
        episode = root / f"traj_group0/traj{i}"
        (episode / "images0").mkdir(parents=True)
        Image.fromarray(image).save(episode / "images0" / "im_0.jpg")
        (episode / SCENE_FILE).write_text(json.dumps({"scene": {"positions": {"block": [x, y]}}}))


@pytest.fixture(scope="module")
def tiny():
    from harness.models import load_model

    return load_model("tiny")


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 30))
    y = x @ rng.normal(size=(30, 2)) + 3.0
    assert np.abs(ridge_cv_predict(x, y) - y).max() < 0.1


@pytest.mark.parametrize("shows_object", [True, False])
def test_places_only_what_the_image_shows(tiny, tmp_path, shows_object):
    write_episodes(tmp_path, 100, shows_object)
    rows = {r.features: r for r in locate(tiny, tmp_path, min_scenes=50)}
    assert set(rows) == {"tower", "pixels"} and rows["tower"].n == 100 and rows["tower"].target == "block"
    for r in rows.values():
        if shows_object:
            assert r.median_error_cm < 0.6 * r.spread_cm, r
        else:
            assert r.median_error_cm > 0.8 * r.spread_cm, r


def test_no_episodes_or_too_few_scenes_are_clear_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="vlm2vla sim record"):
        first_frames(tmp_path)
    write_episodes(tmp_path, 12, True)
    with pytest.raises(ValueError, match="no object is in 50 of the 12 scenes"):
        locate(tiny, tmp_path, min_scenes=50)
