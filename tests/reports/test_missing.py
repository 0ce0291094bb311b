"""Missing or broken inputs give explicit entries, never a crash or an empty figure."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from harness.cli.main import app
from harness.reports import build_reports
from tests.reports.conftest import FIXTURES, read_csv


def test_no_results_at_all(tmp_path):
    out = tmp_path / "reports"
    summary = build_reports(tmp_path / "does-not-exist", out)
    readme = (out / "README.md").read_text()
    for pattern in ("vqa/scores.csv", "robot/trials*.csv", "mechanism/forgetting_*.csv", "mechanism/logprob_*.csv",
                    "train/*.csv", "bench/policy_*.csv"):
        assert "no data yet" in readme and f"`{pattern}` not found" in readme, pattern
    assert summary.problems == []
    # the paper's numbers are still shown, labelled; no figure is drawn without data
    assert {p.name for p in (out / "figures").iterdir()} == {"vqa.png", "vqa.pdf", "success.png", "success.pdf"}
    assert {r["source"] for r in read_csv(out / "tables" / "success.csv")} == {"paper"}
    assert not (out / "tables" / "training.md").exists()
    assert "## No data yet" in readme and "## Input problems" not in readme


def test_broken_file_is_named_and_the_rest_is_written(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES, results)
    (results / "bench" / "policy_gemma3-270m.csv").write_text("model,variant\nx,y\n")
    (results / "train" / "run-c.csv").write_text("step,epoch,loss,lr,tokens,elapsed_s\n1,0.1,not-a-number,1,1,1\n")
    out = tmp_path / "reports"
    r = CliRunner().invoke(app, ["report", "--results", str(results), "--out", str(out)])
    assert r.exit_code == 1
    assert "input problem: `bench/policy_gemma3-270m.csv` could not be read as PolicyBenchRow rows" in r.stderr
    assert "missing columns" in r.stderr and str(results) not in r.stderr.split("input problem")[1]
    readme = (out / "README.md").read_text()
    assert "## Input problems" in readme and "`train/run-c.csv`" in readme
    # other inputs are unaffected: both other training runs and every other table are there
    assert [row["run"] for row in read_csv(out / "tables" / "training.csv")] == ["run-a", "run-b"]
    assert (out / "tables" / "success.csv").exists() and not (out / "figures" / "latency.png").exists()


def test_bad_values_inside_readable_files(tmp_path):
    results = tmp_path / "results"
    (results / "robot").mkdir(parents=True)
    (results / "vqa").mkdir()
    trials = (FIXTURES / "robot" / "trials.csv").read_text().replace(",success,", ",crashed,", 1)
    (results / "robot" / "trials.csv").write_text(trials)
    scores = (FIXTURES / "vqa" / "scores.csv").read_text().replace("Final Score,700", "acc,700")
    (results / "vqa" / "scores.csv").write_text(scores + "tiny,embedded,MMStar_TINY,MMStar-tiny,Overall,0.4,"
                                                "fraction,exact_matching,10,2026-01-01,abc,run9\n")
    summary = build_reports(results, tmp_path / "out")
    problems = "\n".join(summary.problems)
    assert "1 trial(s) with an outcome outside success, failure, invalid, skip" in problems
    assert "pickup/vlm2vla#0='crashed'" in problems
    # OCRBench with a single non-headline metric is still taken (the only metric there is)...
    assert "OCRBench" not in problems
    # ...but a scale nobody understands is reported with the fix, not guessed
    assert ("tiny / embedded / MMStar_TINY: scale 'fraction' is not understood; expected '%' or '/N'"
            in problems)
    rows = read_csv(tmp_path / "out" / "tables" / "success.csv")
    assert [r["successes"] for r in rows if r["source"] == "ours" and r["task"] == "pickup"
            and r["model"] == "vlm2vla"] == ["5"]


def test_ambiguous_vqa_metrics_are_a_problem(tmp_path):
    results = tmp_path / "results"
    (results / "vqa").mkdir(parents=True)
    header = (FIXTURES / "vqa" / "scores.csv").read_text().splitlines()[0]
    rows = ["gemma3-base,paper,TextVQA_VAL,TextVQA,acc,50,%,exact_matching,10,2026-01-01,abc,run1",
            "gemma3-base,paper,TextVQA_VAL,TextVQA,anls,40,%,exact_matching,10,2026-01-01,abc,run1"]
    (results / "vqa" / "scores.csv").write_text("\n".join([header, *rows]) + "\n")
    summary = build_reports(results, tmp_path / "out")
    assert any("gemma3-base / paper / TextVQA_VAL: no headline metric among ['acc', 'anls']" in p
               for p in summary.problems)


def test_header_only_file_says_no_rows(tmp_path):
    results = tmp_path / "results"
    (results / "robot").mkdir(parents=True)
    header = (FIXTURES / "robot" / "trials.csv").read_text().splitlines()[0]
    (results / "robot" / "trials.csv").write_text(header + "\n")
    summary = build_reports(results, tmp_path / "out")
    assert any(m.startswith("no data yet (robot trials): `robot/trials*.csv` has no rows") for m in summary.missing)
    assert summary.problems == []
