"""End to end on the real pretrained Gemma-3-270M (minutes on a CPU): Fig. 3's effect and one forgetting arm."""

from __future__ import annotations

import statistics

import pytest

pytestmark = pytest.mark.slow


def test_verbalized_actions_are_far_more_likely_than_least_likely_tokens(dlan_heldout):
    """The paper's Fig. 3 on a real pretrained model: language actions sit many nats/token above alien tokens."""
    from harness.mechanism.logprob import logprob_rows
    from harness.models import load_model

    rows = logprob_rows(load_model("gemma3-270m"), dlan_heldout, limit=2, progress=False)
    mean = {rep: statistics.mean(r.mean_logprob for r in rows if r.representation == rep)
            for rep in ("verbalized", "least_likely")}
    assert mean["verbalized"] - mean["least_likely"] > 5.0, mean


def test_probe_knowledge_of_the_base_is_well_above_chance():
    from harness.mechanism.probes import load_probe_set, score_probe_set
    from harness.models import load_model

    scores = score_probe_set(load_model("gemma3-270m"), load_probe_set("knowledge"), limit=48, progress=False)
    assert scores.accuracy > 0.5  # chance is 0.25: the probe measures knowledge the model has to lose
