"""OpenVLA's 256-bin action decoding (the model itself cannot run here; its loader's error path is tested)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.actions import ActionParseError
from harness.models.openvla import OpenVLABins

VOCAB = 32000
Q01 = [-0.03, -0.04, -0.02, -0.1, -0.1, -0.2, 0.0]
Q99 = [0.03, 0.04, 0.03, 0.1, 0.1, 0.2, 1.0]


@pytest.fixture
def bins():
    return OpenVLABins(VOCAB, Q01, Q99)


def test_ids_are_the_last_256_of_the_vocabulary(bins):
    assert bins.encode_ids([Q99[i] for i in range(6)] + [1.0]) [:6] == [VOCAB - 256] * 6
    assert bins.encode_ids([Q01[i] for i in range(6)] + [-1.0])[:6] == [VOCAB - 1] * 6


def test_edges_decode_to_the_outermost_centres(bins):
    centre = 1 - 1 / 255  # half a bin width inside +-1
    top = bins.decode_ids([VOCAB - 256] * 7)
    low = bins.decode_ids([VOCAB - 1] * 7)
    assert top[0] == pytest.approx(0.5 * (centre + 1) * (Q99[0] - Q01[0]) + Q01[0])
    assert low[0] == pytest.approx(0.5 * (-centre + 1) * (Q99[0] - Q01[0]) + Q01[0])
    assert top[6] == pytest.approx(centre) and low[6] == pytest.approx(-centre)  # unmasked: normalised units


def test_round_trip_within_one_bin(bins):
    rng = np.random.default_rng(0)
    width = (np.asarray(Q99) - np.asarray(Q01)) * (2 / 255) / 2
    for _ in range(200):
        a = rng.uniform(Q01, Q99)
        a[6] = rng.uniform(-1, 1)
        back = bins.decode_ids(bins.encode_ids(a))
        assert np.all(np.abs(back[:6] - a[:6]) <= width[:6] + 1e-9)
        assert abs(back[6] - a[6]) <= 2 / 255 + 1e-9


def test_last_seven_tokens_are_read_and_the_rest_refused(bins):
    reasoning = [1, 2, 3, 500]
    ids = bins.encode_ids([0.01, -0.02, 0.0, 0, 0, 0, 1.0])
    assert np.allclose(bins.decode_ids(reasoning + ids), bins.decode_ids(ids))
    chunk = bins.decode_chunk(ids)
    assert chunk[0].gripper == 1.0 and chunk[0].dx == pytest.approx(0.01, abs=3e-4)
    with pytest.raises(ActionParseError, match="not among"):
        bins.decode_ids([5] * 7)
    with pytest.raises(ActionParseError, match="need 7"):
        bins.decode_ids(ids[:3])
