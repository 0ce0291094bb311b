from __future__ import annotations

import pytest

from harness.data.dlan import DlanExample, read_examples, write_shard


def _example(i: int, stage: str = "action") -> DlanExample:
    return DlanExample(
        example_id=f"ep{i}/{stage}/0", episode_id=f"ep{i}", split="train", stage=stage, step_index=0,
        instruction="pick up the carrot", subtask="grasp the carrot", plan="move down",
        prompt="Instruction: ...", target="move down 2.0 cm, close gripper", action_digits="5005004800",
        chunk_json="[[0.0, 0.0, -0.02, 0.0]]", images=[f"images/ep{i}/0.jpg"], annotator="rules")


def test_shards_round_trip_and_stream(tmp_path):
    write_shard([_example(0), _example(1, "plan")], tmp_path / "data" / "train-00000.parquet")
    write_shard([_example(2)], tmp_path / "data" / "train-00001.parquet")
    got = list(read_examples(tmp_path))
    assert [e.example_id for e in got] == ["ep0/action/0", "ep1/plan/0", "ep2/action/0"]
    assert got[0] == _example(0)
    assert [e.episode_id for e in read_examples(tmp_path, stage="action")] == ["ep0", "ep2"]
    assert got[0].target_for("least_likely") == "5005004800"
    assert got[1].target_for("least_likely") == got[1].target


def test_missing_dataset_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="vlm2vla data build"):
        list(read_examples(tmp_path))


def test_loads_with_datasets(tmp_path):
    import datasets

    write_shard([_example(0), _example(1)], tmp_path / "data" / "train-00000.parquet")
    ds = datasets.load_dataset("parquet", data_dir=str(tmp_path / "data"), split="train")
    assert ds.num_rows == 2 and ds[0]["images"] == ["images/ep0/0.jpg"]
