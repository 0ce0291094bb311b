"""`vlm2vla data build`: counts and card, `datasets` loading, incremental re-runs, a killed build resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from harness.data.bridge import iter_groups
from harness.data.build import BuildConfig, Builder, BuildError
from harness.data.dlan import hf_data_files, read_examples
from harness.data.fixture import write_fixture
from harness.data.manifest import MANIFEST, Manifest
from harness.paths import REPO_ROOT
from tests.data.conftest import BROKEN, GOOD


def _build(source, out, config, **kw):
    limit = kw.pop("limit", None)
    tokenizer = kw.pop("tokenizer", None)
    return Builder(source, out, config, progress=False, **kw).run(limit=limit, tokenizer=tokenizer)


def _ids(out) -> list[str]:
    return [e.example_id for e in read_examples(out)]


@pytest.fixture(scope="module")
def built(raw_fixture, tmp_path_factory):
    out = tmp_path_factory.mktemp("dlan")
    report = _build(raw_fixture, out, BuildConfig.load("bridge", "rules"))
    return out, report


def test_build_counts_and_skips(built, truth):
    out, report = built
    assert (report.found, report.processed, report.skipped, report.reused) == (GOOD + BROKEN, GOOD, BROKEN, 0)
    manifest = Manifest(out)
    entries = dict(manifest.episodes())
    for eid, t in truth.items():
        if t["corrupt"]:
            assert entries[eid]["status"] == "skipped" and entries[eid]["reason"] == t["corrupt"]
        else:
            assert entries[eid]["status"] == "ok" and entries[eid]["annotator"] == "rules"
    skipped = pd.read_csv(out / "skipped.csv")
    assert sorted(skipped["reason"]) == sorted(t["corrupt"] for t in truth.values() if t["corrupt"])
    assert set(skipped["episode"]) == {e for e, t in truth.items() if t["corrupt"]}


def test_rows_and_images(built, truth):
    out, _ = built
    rows = list(read_examples(out))
    ids = [r.example_id for r in rows]
    assert len(ids) == len(set(ids))
    assert {r.episode_id for r in rows} == {e for e, t in truth.items() if not t["corrupt"]}
    assert Counter(r.stage for r in rows)["subtasks"] == GOOD
    for r in rows:
        assert r.split in ("train", "heldout") and r.annotator == "rules"
        for img in r.images:
            assert (out / img).is_file(), img
    with Image.open(out / rows[0].images[0]) as im:
        assert im.size == (640, 480) and im.format == "JPEG"  # original resolution, bytes as recorded
    src = next(p for p in (Path(truth[rows[0].episode_id]["episode_id"]),))
    assert rows[0].images[0].startswith(f"images/{src.as_posix()}/im_")


def test_card_says_what_is_inside(built):
    out, report = built
    card = (out / "README.md").read_text()
    assert card.startswith("---\nconfigs:")
    for reason in ("bad_pickle", "missing_images", "no_instruction", "length_mismatch", "corrupt_image",
                   "missing_file"):
        assert f"| {reason} | 1 |" in card
    assert f"| usable | {GOOD} |" in card and f"| skipped | {BROKEN} |" in card
    assert "annotator: **rules**" in card and "proxy: words and punctuation" in card
    assert "steps (sub-tasks) per episode" in card and "action chunk length" in card
    assert "| action |" in card and "one-step latency removed" in card
    assert report.card == str(out / "README.md")


def test_datasets_loads_both_splits(built):
    import datasets

    out, _ = built
    ds = datasets.load_dataset(str(out))
    total = sum(1 for _ in read_examples(out))
    assert set(ds) == {"train", "heldout"} and sum(d.num_rows for d in ds.values()) == total
    explicit = datasets.load_dataset("parquet", data_files=hf_data_files(out))
    assert {k: v.num_rows for k, v in explicit.items()} == {k: v.num_rows for k, v in ds.items()}
    row = ds["train"][0]
    assert isinstance(row["images"], list) and row["stage"] in ("subtasks", "plan", "action", "completion",
                                                                 "direction")


def test_rerun_does_nothing_and_changes_are_picked_up(raw_copy, tmp_path, config, truth):
    out = tmp_path / "dlan"
    first = _build(raw_copy, out, config)
    ids = _ids(out)
    shards = {p: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")}

    again = _build(raw_copy, out, config)
    assert (again.processed, again.skipped, again.reused, again.groups_done) == (0, 0, first.found, 0)
    assert _ids(out) == ids and {p: p.stat().st_mtime_ns for p in (out / "data").glob("*.parquet")} == shards

    good = [e for e, t in truth.items() if not t["corrupt"]]
    (raw_copy / good[0] / "lang.txt").write_text("pick up the purple spoon\nconfidence: 1\n")  # changed
    new = raw_copy / good[1]
    added = new.parent / "traj9"
    shutil.copytree(new, added)  # new
    shutil.rmtree(raw_copy / good[2])  # removed
    third = _build(raw_copy, out, config)
    assert (third.processed, third.removed) == (2, 1)
    assert third.reused == first.found - 2 - 0  # everything else carried over (the new one was not there before)
    rows = list(read_examples(out))
    assert {r.instruction for r in rows if r.episode_id == good[0]} == {"pick up the purple spoon"}
    added_id = added.relative_to(raw_copy).as_posix()
    assert any(r.episode_id == added_id for r in rows)
    assert not any(r.episode_id == good[2] for r in rows) and not (out / "images" / good[2]).exists()
    ids3 = [r.example_id for r in rows]
    assert len(ids3) == len(set(ids3))


def test_a_changed_spec_rebuilds_everything(raw_copy, tmp_path, experiments_copy):
    out = tmp_path / "dlan"
    first = _build(raw_copy, out, BuildConfig.load("bridge", "rules"))
    path = experiments_copy / "decomposition" / "bridge.yaml"
    path.write_text(path.read_text().replace("axis_limit_cm: 2.5", "axis_limit_cm: 2.0"))
    second = _build(raw_copy, out, BuildConfig.load("bridge", "rules"))
    assert second.processed == first.processed and second.reused == 0


def test_orphans_and_a_torn_manifest_line_leave_no_duplicates(raw_copy, tmp_path, config):
    out = tmp_path / "dlan"
    _build(raw_copy, out, config)
    reference = sorted(_ids(out))
    lines = (out / MANIFEST).read_text().splitlines()
    # as if killed: the last group's record is half written, and a shard was written but never recorded
    (out / MANIFEST).write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    shutil.copy(next((out / "data").glob("train-*.parquet")), out / "data" / "train-ffffffffffffffff.parquet")
    (out / "data" / "train-0000000000000000.parquet.tmp").write_text("torn")
    report = _build(raw_copy, out, config)
    assert report.groups_done == 1 and report.groups_reused == len(lines) - 1
    assert sorted(_ids(out)) == reference
    assert not list((out / "data").glob("*.tmp")) and not (out / "data" / "train-ffffffffffffffff.parquet").exists()


def test_killed_build_resumes_without_duplicates(tmp_path):
    raw = tmp_path / "raw"
    write_fixture(raw, episodes=27, corrupt=2, seed=11)
    out = tmp_path / "dlan"
    cmd = [sys.executable, "-m", "harness.cli.main", "data", "build", "--source", str(raw), "--out", str(out),
           "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest = out / MANIFEST
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    done_before = len(Manifest(out).records)
    assert 2 <= done_before < len(list(iter_groups(raw))), "killed midway"

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{27 + 2} episodes found" in resumed.stdout
    ids = _ids(out)
    assert len(ids) == len(set(ids)), "no duplicated rows after the resume"
    clean = tmp_path / "clean"
    _build(raw, clean, BuildConfig.load("bridge", "rules"))
    assert sorted(ids) == sorted(_ids(clean))
    report = json.loads((out / "build.json").read_text())
    assert report["source"] == str(raw.resolve())
    unchanged = int(resumed.stdout.split(" unchanged")[0].rsplit(" ", 1)[1])
    assert unchanged >= 3 * (done_before - 1), "groups finished before the kill were not redone"


def test_output_from_another_source_is_refused(raw_fixture, tmp_path, config):
    out = tmp_path / "dlan"
    _build(raw_fixture, out, config, limit=1)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(BuildError, match="was built from"):
        _build(other, out, config)
    with pytest.raises(BuildError, match="no such directory"):
        _build(tmp_path / "missing", tmp_path / "out2", config)


def test_limit_stops_early_and_keeps_the_rest(raw_fixture, tmp_path, config):
    out = tmp_path / "dlan"
    report = _build(raw_fixture, out, config, limit=1)
    first_group = next(iter_groups(raw_fixture))
    assert not report.complete and report.processed + report.skipped == len(first_group.paths)  # whole groups
    full = _build(raw_fixture, out, config)
    assert full.complete and full.reused == report.processed + report.skipped


def test_real_tokenizer_counts(raw_fixture, tmp_path, config):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0}
    for w in "move forward backward left right up down cm gripper open close the a . , ; 0 1 2 3 4 5 6 7 8 9".split():
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(True)])
    path = tmp_path / "tok"
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(path)
    out = tmp_path / "dlan"
    _build(raw_fixture, out, config, tokenizer=path)
    card = (out / "README.md").read_text()
    assert f"Hugging Face tokenizer {path}" in card
    with pytest.raises(RuntimeError, match="cannot load a Hugging Face tokenizer"):
        _build(raw_fixture, out, config, tokenizer=tmp_path / "nothing-here")


def test_data_spec_names_existing_specs():
    from harness.specs.loader import list_specs, load_data

    have = {(r.kind, r.name) for r in list_specs()}
    for ref in list_specs("data"):
        spec = load_data(ref.name)
        assert ("decomposition", spec.decomposition) in have
        assert ("actions", spec.least_likely) in have and ("actions", spec.verbalized) in have
        assert spec.gemini.model.startswith("gemini-2.5")


def test_an_episode_the_annotator_cannot_handle_is_skipped(raw_fixture, tmp_path, config, truth):
    from harness.data.rules import RulesAnnotator

    victim = next(e for e, t in truth.items() if not t["corrupt"])

    class Fragile(RulesAnnotator):
        def annotate(self, episode):
            if episode.episode_id == victim:
                raise ZeroDivisionError("odd data")
            return super().annotate(episode)

    out = tmp_path / "dlan"
    report = Builder(raw_fixture, out, config, annotator=Fragile(config.decomposition), progress=False).run()
    assert (report.processed, report.skipped) == (GOOD - 1, BROKEN + 1)
    entry = dict(Manifest(out).episodes())[victim]
    assert entry == {"fp": entry["fp"], "status": "skipped", "reason": "annotation_failed",
                     "detail": "ZeroDivisionError: odd data"}
    assert "annotation_failed" in (out / "README.md").read_text() and not (out / "images" / victim).exists()
