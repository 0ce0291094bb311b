"""One rule for a fine-tuned spec's base and one for where its adapter lives (issue 17): the VQA CLI, the reports
and the loader used to apply rules of their own that could disagree."""

from __future__ import annotations

import pytest

from harness.reports import naming
from harness.specs.lineage import base_model_of


@pytest.fixture
def lineage_specs(experiments_copy):
    models = experiments_copy / "models"
    # tuned by recipe, adapter not yet named; and an untuned spec of another type on the same checkpoint
    (models / "gemma3-recipe-only.yaml").write_text(
        "name: gemma3-recipe-only\ntype: gemma3\nbase: google/gemma-3-12b-it\nrecipe: lora-paper\n")
    (models / "aaa-other-type.yaml").write_text("name: aaa-other-type\ntype: openvla\nbase: google/gemma-3-12b-it\n")
    naming.clear_caches()
    yield models
    naming.clear_caches()


@pytest.mark.parametrize("model, base", [
    ("vlm2vla", "gemma3-base"), ("vlm2vla-at", "gemma3-base"), ("gemma3-270m-vlm2vla", "gemma3-270m"),
    ("gemma3-recipe-only", "gemma3-base"),  # a recipe makes a spec fine-tuned (the VQA CLI ignored it)
    ("gemma3-base", None), ("aaa-other-type", None), ("openvla", None), ("no-such-model", None),
])
def test_cli_and_reports_name_the_same_base(lineage_specs, model, base):
    # the reports ignored `type` and took `aaa-other-type` (first by name) as every 12B model's base
    assert base_model_of(model) == naming.base_model(model) == base


def test_relative_adapters_resolve_alike_for_loader_and_vqa(experiments_copy, tmp_path, monkeypatch):
    from harness.models.registry import resolve_adapter
    from harness.specs import load_model
    from harness.vqa.scores import adapter_ready

    monkeypatch.setenv("VLM2VLA_RUNS", str(tmp_path / "runs"))
    spec = load_model("vlm2vla")  # adapter: vlm2vla/adapter, relative
    assert not adapter_ready("vlm2vla")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vlm2vla" / "adapter").mkdir(parents=True)  # relative to the working directory: the loader finds it
    assert resolve_adapter(spec.adapter, spec) == (tmp_path / "vlm2vla" / "adapter").resolve()
    assert adapter_ready("vlm2vla")  # ... and so does the VQA CLI's readiness check (it looked under runs/ only)
