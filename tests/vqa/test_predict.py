"""Batched, resumable predictions: same file as VLMEvalKit's own loop, same answers at any batch size."""

from __future__ import annotations

import json

import pytest

from harness.vqa import kit
from tests.vqa.fakes import echo_hash


def _load(path):
    from vlmeval.smp import load

    return load(str(path))


@pytest.mark.parametrize("name", ["MMMU_DEV_VAL_EMB", "MME_EMB"])
def test_prediction_file_equals_vlmevalkits_infer_data_job(staged, suite, datasets, tmp_path, name):
    """Our loop writes what `vlmeval.inference.infer_data_job` writes for the same model (interleaved MMMU
    prompts, MME's image_path column)."""
    from harness.vqa import runner
    from harness.vqa.adapter import register
    from harness.vqa.predict import predict, prediction_file

    bench = next(b for b in suite.benchmarks if b.dataset == name)
    gen = echo_hash()
    with kit.session(staged):
        from vlmeval.inference import infer_data_job

        model = register("fake-echo", gen)
        ours = predict(model, datasets[name], tmp_path / "ours", "fake-echo", batch_size=3, progress=False)
        theirs_ds = runner.instantiate(bench)
        (tmp_path / "kit").mkdir()
        infer_data_job(model, str(tmp_path / "kit"), "fake-echo", theirs_ds, verbose=False)
        theirs = prediction_file(tmp_path / "kit", "fake-echo", name)
        a, b = _load(ours), _load(theirs)
    assert list(a.columns) == list(b.columns) and "image" not in a.columns
    assert a.equals(b)
    assert a["prediction"].nunique() == len(a)  # every row got its own request's answer


def test_batched_equals_one_at_a_time(staged, datasets, tmp_path):
    from harness.vqa.adapter import HarnessVLM
    from harness.vqa.predict import predict

    ds = datasets["MME_EMB"]
    answers = {}
    for bs in (1, 5, 64):
        gen = echo_hash()
        with kit.session(staged):
            out = predict(HarnessVLM(gen, max_new_tokens=7), ds, tmp_path / f"b{bs}", "fake", batch_size=bs,
                          progress=False)
            answers[bs] = list(_load(out)["prediction"])
        assert gen.batch_sizes == [min(bs, 28 - k) for k in range(0, 28, bs)]
        assert {k["max_new_tokens"] for k in gen.kwargs} == {7} and {k["temperature"] for k in gen.kwargs} == {0.0}
    assert answers[1] == answers[5] == answers[64]


def test_resume_after_interruption_asks_only_the_rest(staged, datasets, tmp_path):
    from harness.vqa.adapter import HarnessVLM
    from harness.vqa.predict import checkpoint_file, predict, prediction_file, read_checkpoint

    ds = datasets["MMBench_DEV_EN_EMB"]  # 16 rows
    work = tmp_path / "run"

    def interrupt(done: int) -> None:
        if done >= 10:
            raise KeyboardInterrupt

    gen = echo_hash()
    with kit.session(staged), pytest.raises(KeyboardInterrupt):
        predict(HarnessVLM(gen), ds, work, "fake", batch_size=5, progress=False, on_batch=interrupt)
    ckpt = checkpoint_file(work, "fake", ds.dataset_name)
    assert len(read_checkpoint(ckpt)) == 10 and not prediction_file(work, "fake", ds.dataset_name).exists()
    with ckpt.open("a") as f:
        f.write('{"index": "3", "predic')  # a crash in the middle of a write
    gen.batch_sizes.clear()
    with kit.session(staged):
        resumed = _load(predict(HarnessVLM(gen), ds, work, "fake", batch_size=5, progress=False))
        fresh = _load(predict(HarnessVLM(echo_hash()), ds, tmp_path / "fresh", "fake", batch_size=5, progress=False))
    assert sum(gen.batch_sizes) == 6
    assert resumed.equals(fresh)


def test_interrupted_run_resumes_and_skips_scored_benchmarks(run_suite, perfect, results):
    from harness.records import CHANCE_MODEL, VQAScoreRow, read_rows

    batches = []

    def interrupt(done: int) -> None:
        batches.append(done)
        if len(batches) == 3:  # MMStar (2 batches of 4) is scored; MME's first batch is durable
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(perfect, only=["MMStar_EMB", "MME_EMB"], on_batch=interrupt)
    (run_dir,) = (results / "vqa" / "fake").iterdir()
    leftover = run_dir / "MME_EMB" / "fake_MME_EMB_auxmatch.xlsx"
    leftover.write_text("from an evaluation that never finished")
    asked_before = sum(perfect.batch_sizes)
    result, csv = run_suite(perfect, only=["MMStar_EMB", "MME_EMB"], resume=run_dir)
    assert result.run_dir == run_dir and result.skipped == ["MMStar_EMB"]
    assert sum(perfect.batch_sizes) - asked_before == 28 - 4
    heads = [r for r in read_rows(csv, VQAScoreRow) if r.metric == "Overall" and r.model != CHANCE_MODEL]
    assert sorted(r.benchmark for r in heads) == ["MME_EMB", "MMStar_EMB"]
    assert {r.score for r in heads} == {100.0, 2800.0}


def test_resume_refuses_other_settings(run_suite, perfect):
    from harness.vqa.runner import RunError

    result, _ = run_suite(perfect, only=["OCRBench_EMB"], limit=3)
    with pytest.raises(RunError, match=r"limit: run has 3, now 4"):
        run_suite(perfect, only=["OCRBench_EMB"], limit=4, resume=result.run_dir)
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["limit"] == 3 and manifest["judge"] == "exact_matching" and manifest["vlmeval"] == "0.0.20"


def test_fresh_directory_per_run(run_suite, perfect):
    a, _ = run_suite(perfect, only=["OCRBench_EMB"], limit=2)
    b, _ = run_suite(perfect, only=["OCRBench_EMB"], limit=2)
    assert a.run_dir != b.run_dir and a.run_dir.parent == b.run_dir.parent


def test_adapter_rejects_what_it_cannot_send(staged):
    from harness.vqa.adapter import HarnessVLM

    model = HarnessVLM(echo_hash())
    with pytest.raises(ValueError, match="not supported"):
        model.generate_many([[dict(type="video", value="clip.mp4")]])


def test_registration_is_in_process_and_never_shadows_vlmevalkit_models():
    kit.load()
    from vlmeval.config import supported_VLM

    from harness.vqa.adapter import HarnessVLM, register

    model = register("fake-registered", echo_hash(), max_new_tokens=5)
    assert isinstance(model, HarnessVLM) and isinstance(supported_VLM["fake-registered"](), HarnessVLM)
    with pytest.raises(ValueError, match="one of VLMEvalKit's own models"):
        register("Gemma3-12B", echo_hash())
