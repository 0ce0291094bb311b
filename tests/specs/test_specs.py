"""Every YAML under experiments/ loads into its schema; bad specs are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from harness.specs import (
    KINDS,
    SpecError,
    list_specs,
    load,
    load_model,
    load_task,
    resolved_yaml,
    validate_all,
)

# Directories of tool configs that are not harness specs (accelerate's own launch config), allowed by name only.
NON_SPEC_DIRS = {"accelerate"}
ALL_YAML = sorted(p for p in (REPO_ROOT / "experiments").glob("*/*.yaml") if p.parent.name not in NON_SPEC_DIRS)


def test_every_yaml_is_a_known_kind():
    """No spec can hide in a directory the loader does not read."""
    assert ALL_YAML, "experiments/ is empty"
    for path in sorted((REPO_ROOT / "experiments").glob("*/*.yaml")):
        assert path.parent.name in KINDS or path.parent.name in NON_SPEC_DIRS, \
            f"{path} is under an unknown kind directory"
    assert len(list_specs()) == len(ALL_YAML)


def test_accelerate_config_matches_the_paper_recipe():
    import yaml

    config = yaml.safe_load((REPO_ROOT / "experiments" / "accelerate" / "zero2.yaml").read_text())
    assert config["distributed_type"] == "DEEPSPEED" and config["deepspeed_config"]["zero_stage"] == 2
    assert config["mixed_precision"] == "bf16" and config["num_processes"] == 4
    assert "gradient_accumulation_steps" not in config["deepspeed_config"]  # derived from the recipe
    assert load("recipes/lora-paper").grad_accum(config["num_processes"]) == 2  # the paper: 1 x 2 x 4 GPUs = 8


def test_cpu_recipe_keeps_the_papers_lora_shape():
    paper, cpu = load("recipes/lora-paper"), load("recipes/lora-cpu")
    assert (cpu.lora.r, cpu.lora.alpha, cpu.lora.target_modules) == (paper.lora.r, paper.lora.alpha,
                                                                     paper.lora.target_modules)
    assert cpu.method == "lora" and not cpu.train_vision_tower and cpu.optimizer.schedule == "linear"
    assert load_model("gemma3-270m-vlm2vla").adapter == "gemma3-270m-vlm2vla/adapter"


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_spec_loads(path: Path):
    spec = load(str(path), path.parent.name)
    assert spec.name == path.stem


def test_validate_all_is_clean():
    refs, errors = validate_all()
    assert errors == [] and len(refs) == len(ALL_YAML)


def test_shipped_specs():
    names = {(r.kind, r.name) for r in list_specs()}
    for model in ["vlm2vla", "vlm2vla-at", "gemma3-base", "openvla", "ecot", "tiny", "gemma3-270m"]:
        assert ("models", model) in names
    for task in ["pickup", "pick-place-lift", "pick-and-place", "pickup-multilingual", "pickup-ash"]:
        assert ("tasks", task) in names
    assert load_task("pickup-multilingual").trials == 90
    assert load_task("pickup").trials == 30
    assert load_model("gemma3-base").base == "google/gemma-3-12b-it"
    assert load_model("vlm2vla-at").action_repr == "least-likely"
    suite = load("vqa/paper")
    assert [b.label for b in suite.benchmarks] == ["MMMU", "MMStar", "MME", "OCRBench", "MMB-en", "TextVQA", "DocVQA"]
    assert {n for k, n in names if k == "robots"} >= {"widowx", "sim", "dry-run"}


def test_paper_recipe_matches_the_paper():
    r = load("recipes/lora-paper")
    assert (r.lora.r, r.lora.alpha, r.optimizer.lr, r.max_length, r.epochs) == (16, 32, 5e-5, 1024, 1)
    assert r.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def test_show_fills_defaults():
    text = resolved_yaml("vlm2vla")
    assert "top_p: 0.95" in text and "adapter: vlm2vla/adapter" in text


@pytest.mark.parametrize(
    "kind, body, message",
    [
        ("models", "type: gemma4\nbase: x\n", "key 'type': value 'gemma4' is not allowed; expected one of 'gemma3'"),
        ("models", "base: x\ngeneration: {plan: {temperature: -1}}\n", "key 'generation.plan.temperature': value -1.0"),
        ("models", "base: x\nfoo: 1\n", "unknown key 'foo'; allowed keys: name, type"),
        ("models", "base: x\nimage_size: big\n", "key 'image_size': value 'big' is invalid"),
        ("models", "base: [x\n", "not valid YAML"),
        ("models", "- a\n- b\n", "top level must be a mapping"),
        ("models", "name: other\nbase: x\n", "must equal the file name"),
        ("tasks", "instructions: []\ntarget: x\nsuccess_text: y\n", "key 'instructions'"),
        ("tasks", "instructions: [{text: a}]\ntarget: x\nsuccess_text: y\nsuccess_check: pick_place\n",
         "key 'destination'"),
        ("recipes", "method: qlora\n", "key 'method': value 'qlora'"),
        ("actions", "type: verbalized\nresolution_cm: 0.3\n", "key 'resolution_cm'"),
        ("decomposition", "merge: {axis_limit_cm: 0}\n", "key 'merge.axis_limit_cm'"),
        ("vqa", "benchmarks: []\n", "key 'benchmarks'"),
        ("robots", "backend: widowx\nstart_ee: [0.9, 0, 0.2]\n", "key 'start_ee'"),
        ("robots", "backend: widowx\nworkspace: {min: [0, 0, 0], max: [0, 1, 1]}\n", "key 'workspace.max'"),
    ],
)
def test_bad_spec_names_file_key_and_value(experiments_copy, kind, body, message):
    path = experiments_copy / kind / "bad.yaml"
    path.write_text(body)
    with pytest.raises(SpecError) as info:
        load("bad", kind)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    refs, errors = validate_all()
    assert any(str(path) in e for e in errors)


def test_dangling_reference_is_reported(experiments_copy):
    (experiments_copy / "models" / "dangling.yaml").write_text("base: x\naction_repr: nope\nrecipe: nada\n")
    _, errors = validate_all()
    assert any("'action_repr': value 'nope' names no spec" in e for e in errors)
    assert any("'recipe': value 'nada' names no spec" in e for e in errors)


def test_unknown_and_ambiguous_names(experiments_copy):
    with pytest.raises(SpecError, match="no spec named 'nothing'"):
        load("nothing")
    (experiments_copy / "recipes" / "pickup.yaml").write_text("method: lora\n")
    with pytest.raises(SpecError, match="ambiguous; write one of: recipes/pickup, tasks/pickup"):
        load("pickup")
    assert load("tasks/pickup").trials == 30
