"""The image-signal measure tells an image pathway that passes scenes on from one that hands every scene the same
tokens (what the simulator experiment's policies had: issue 20)."""

from __future__ import annotations

import math

import pytest
import torch

from harness.mechanism.image_signal import _parts, image_signal


def test_scenes_reach_the_tiny_models_output(tiny_model, dlan_heldout):
    s = image_signal(tiny_model, dlan_heldout, stage="plan", limit=4)
    assert s.n >= 2
    assert all(math.isfinite(v) and v > 0 for v in s.variation.values()), s
    assert s.swap_shift > 1e-3 and s.blank_shift > 1e-3, s


def test_a_projector_that_hides_the_scene_is_measured_as_blind(tiny_model, dlan_heldout, monkeypatch):
    _, projector = _parts(tiny_model)
    real = projector.forward

    def same_for_every_scene(features):
        return torch.full_like(real(features), 0.5)

    monkeypatch.setattr(projector, "forward", same_for_every_scene)
    s = image_signal(tiny_model, dlan_heldout, stage="plan", limit=4)
    assert s.variation["projected"] == pytest.approx(0.0, abs=1e-6)
    assert s.variation["tower"] > 0  # the tower still sees the scenes; the projector drops them
    assert s.swap_shift == pytest.approx(0.0, abs=1e-5) and s.blank_shift == pytest.approx(0.0, abs=1e-5)


def test_too_few_scenes_is_a_clear_error(tiny_model, dlan_heldout):
    with pytest.raises(ValueError, match="at least 2"):
        image_signal(tiny_model, dlan_heldout, stage="no-such-stage")
