"""Every result row records what produced it: a short `env` hash in the row, the full fingerprint in the
environments.json sidecar beside the CSV; old CSVs without the column still read; reports show the fingerprints
and flag tables that mix them."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from importlib import metadata

from harness.records import LogprobRow, read_rows, write_rows
from harness.records import environment as env_mod
from harness.records.environment import SIDECAR, env_hash, env_of, environment, remember
from harness.reports import build_reports
from tests.reports.conftest import read_csv


def test_the_fingerprint_names_versions_hardware_dtype_and_git():
    fp = environment("cpu", "torch.bfloat16")
    assert fp["torch"] == metadata.version("torch") and fp["transformers"] == metadata.version("transformers")
    assert fp["vlmeval"] in (metadata.version("ms-vlmeval"), "absent")
    assert fp["dtype"] == "bfloat16" and fp["device"] == "cpu" and fp["hardware"]
    assert fp["git_sha"] and fp["peft"]
    assert env_hash(fp) == env_hash(dict(reversed(list(fp.items()))))  # order does not matter
    assert env_hash({**fp, "transformers": "4.40.1"}) != env_hash(fp)


class _Model:
    device, dtype = "cpu", "torch.float32"


def test_written_rows_carry_the_hash_and_the_sidecar_the_fingerprint(tmp_path):
    h = env_of(_Model())
    path = tmp_path / "mechanism" / "logprob_tiny.csv"
    write_rows(path, [LogprobRow("tiny", "e1", "verbalized", -2.0, 5, env=h)], LogprobRow)
    assert read_rows(path, LogprobRow)[0].env == h
    sidecar = json.loads((path.parent / SIDECAR).read_text())
    assert sidecar == {h: dict(environment("cpu", "torch.float32"))}


def test_a_csv_from_before_the_env_column_still_reads(tmp_path):
    path = tmp_path / "old.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "example_id", "representation", "mean_logprob", "n_tokens"])
        w.writerow(["tiny", "e1", "verbalized", "-2.0", "5"])
    assert read_rows(path, LogprobRow) == [LogprobRow("tiny", "e1", "verbalized", -2.0, 5, env="")]


def test_reports_show_fingerprints_and_flag_a_table_that_mixes_them(tmp_path, monkeypatch):
    results, out = tmp_path / "results", tmp_path / "reports"
    base = dict(environment("cpu", "torch.float32"))
    old = remember({**base, "transformers": "4.40.1"})
    new = remember(base)
    rows = [LogprobRow("tiny", f"e{i}", rep, -2.0 if rep == "verbalized" else -20.0, 5, env=old if i < 2 else new)
            for i in range(4) for rep in ("verbalized", "least_likely")]
    write_rows(results / "mechanism" / "logprob_tiny.csv", rows, LogprobRow)
    monkeypatch.setattr(env_mod, "_KNOWN", {})  # a later run knows neither: the sidecar must be what reports read
    summary = build_reports(results, out)
    table = read_csv(out / "tables" / "environments.csv")
    assert {r["env"]: r["transformers"] for r in table} == {old: "4.40.1", new: base["transformers"]}
    index = (out / "README.md").read_text()
    flag = (f"- flag: mixes 2 environment fingerprints ({', '.join(sorted([old, new]))}) differing in "
            "transformers; its numbers may not be comparable")
    assert flag in index
    assert f"env {', '.join(sorted([old, new]))}" in index  # the input is cited with its fingerprints
    assert not any("environment" in p for p in summary.problems)
    # one fingerprint: nothing flagged
    write_rows(results / "mechanism" / "logprob_tiny.csv", [replace(r, env=new) for r in rows], LogprobRow)
    build_reports(results, out)
    assert "- flag: mixes" not in (out / "README.md").read_text()
