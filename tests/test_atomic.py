"""The one atomic-write helper: complete under the final name or not at all, never a stray temporary."""

from __future__ import annotations

import threading

import pytest

from harness.records.atomic import atomic_dir, atomic_open, atomic_path, atomic_write_text, tmp_path


def test_text_replaces_and_leaves_no_temporary(tmp_path_factory):
    d = tmp_path_factory.mktemp("a")
    path = d / "sub" / "x.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two", fsync=True)
    assert path.read_text() == "two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]


def test_failed_writer_keeps_the_old_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("a") / "x.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as f:
        f.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["x.csv"]


def test_temporary_names():
    from pathlib import Path

    path = Path("/r/data/shard.parquet")
    assert tmp_path(path).suffix == ".tmp"  # builds remove `*.tmp` orphans of a killed run
    assert tmp_path(path, keep_suffix=True).suffix == ".parquet"  # for writers that read the extension
    names = set()
    alive = threading.Barrier(4)  # ids are unique among threads running at the same time

    def name() -> None:
        names.add(tmp_path(path, unique=True))
        alive.wait()

    threads = [threading.Thread(target=name) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names) == 4 and all(n.suffix == ".tmp" for n in names)


def test_path_for_a_writer_callback(tmp_path_factory):
    path = tmp_path_factory.mktemp("a") / "t.tsv"
    with atomic_path(path, keep_suffix=True) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".tsv"
        tmp.write_bytes(b"a\tb\n")
    assert path.read_bytes() == b"a\tb\n" and len(list(path.parent.iterdir())) == 1


def test_directory_replaced_whole_or_not_at_all(tmp_path_factory):
    root = tmp_path_factory.mktemp("a")
    dst = root / "model"
    (dst / "old").mkdir(parents=True)
    with pytest.raises(ValueError), atomic_dir(dst, unique=True) as tmp:
        (tmp / "weights").write_text("partial")
        raise ValueError("build failed")
    assert [p.name for p in root.iterdir()] == ["model"] and (dst / "old").is_dir()
    with atomic_dir(dst) as tmp:
        (tmp / "weights").write_text("w")
    assert [p.name for p in dst.iterdir()] == ["weights"]
    assert [p.name for p in root.iterdir()] == ["model"]
