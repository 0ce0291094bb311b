"""`make gpu-wheels`: the wheel directory `make gpu-check` brings to an offline GPU machine (`.whl/`, < 60 MB).

The GPU machine has torch, accelerate, numpy, pandas, pyarrow, pillow, tqdm, rich, typer,
tokenizers, safetensors and sentencepiece; the harness also imports the packages below, and brings its own pinned transformers and peft (the image's
transformers 5.17 predates `cache=`). Each is fetched with
`pip download --no-deps` for CPython 3.12 on manylinux x86_64 (one at a time: one that cannot be fetched is reported
and the rows that need it are skipped there), and the real Gemma-3 tokenizer is copied, gzipped, from the embedded
270M's cache. `make gpu-check` installs them with `pip install --no-index --find-links .whl --target .whl/site`.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

from harness.gpucheck.arch import TOKENIZER_FILES
from harness.paths import REPO_ROOT, cache_dir

LIMIT_MB = 60.0
# what the harness imports that the GPU image lacks (omegaconf: specs; pydantic: validators; llguidance: grammars;
# datasets: D_lan cards); DeepSpeed comes as a source archive with its one missing pure dependency (hjson).
WHEELS = ["omegaconf>=2.3,<2.5", "antlr4-python3-runtime==4.13.2", "pydantic>=2.6,<3", "pydantic-core",
          "annotated-types", "typing-inspection", "llguidance>=1.9,<2", "datasets>=4,<6", "dill", "multiprocess"]
SOURCES = ["deepspeed>=0.16,<0.20", "hjson"]


def extra_requirements(name: str) -> list[str]:
    """The requirements of one of pyproject's extras."""
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][name]


def pinned(*names: str) -> list[str]:
    """Our own pins of `names` (pyproject's `train` extra): the GPU image's transformers may predate the API the
    harness uses (5.17 there has no `cache=`), so the check brings the version the tests ran on."""
    return [r for r in extra_requirements("train") if r.split(">")[0].split("=")[0].split("<")[0].strip() in names]

PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux2014_x86_64",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux_2_28_x86_64", "--platform",
            "manylinux_2_31_x86_64", "--platform", "manylinux_2_34_x86_64", "--only-binary=:all:"]  # llguidance: 2_31


def fetch(dest: Path, *, with_deepspeed: bool = True) -> tuple[list[str], list[str]]:
    """Download into `dest`; returns (fetched, failed) requirement strings."""
    dest.mkdir(parents=True, exist_ok=True)
    done, failed = [], []
    # regex: transformers 5.24's floor; the `peer` extra (xgrammar, ~5 MB): the policy benchmark's peer
    wheels = WHEELS + pinned("transformers", "peft") + ["regex>=2025.10.22"] \
        + extra_requirements("peer-deps") + extra_requirements("peer")
    for req, extra in [(r, PLATFORM) for r in wheels] + [(r, []) for r in (SOURCES if with_deepspeed else [])]:
        p = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *extra, req],
                           capture_output=True, text=True)
        (done if p.returncode == 0 else failed).append(req)
        if p.returncode:
            print(f"gpu-wheels: could not fetch {req}: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return done, failed


def copy_tokenizer(dest: Path) -> Path:
    src = cache_dir() / "gemma3-270m" / "vlm-v1-img224"
    if not all((src / n).is_file() for n in TOKENIZER_FILES):
        raise FileNotFoundError(f"{src}: no Gemma-3 tokenizer; run `vlm2vla models build gemma3-270m` first")
    out = dest / "gemma3-tokenizer"
    out.mkdir(parents=True, exist_ok=True)
    with open(src / "tokenizer.json", "rb") as fin, gzip.open(out / "tokenizer.json.gz", "wb", 9) as fout:
        shutil.copyfileobj(fin, fout)
    shutil.copy(src / "tokenizer_config.json", out / "tokenizer_config.json")
    return out


def size_mb(dest: Path) -> float:
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and "site" not in p.relative_to(dest).parts) / 1e6


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dest = Path(args[0]) if args else REPO_ROOT / ".whl"
    _, failed = fetch(dest)
    copy_tokenizer(dest)
    total = size_mb(dest)
    for p in sorted(dest.iterdir()):
        if p.is_file():
            print(f"{p.stat().st_size / 1e6:8.2f} MB  {p.name}")
    print(f"{total:8.2f} MB  total in {dest} (limit {LIMIT_MB:.0f} MB)" + (f"; not fetched: {failed}" if failed else ""))
    if total > LIMIT_MB:
        print(f"gpu-wheels: {dest} holds {total:.1f} MB, over the {LIMIT_MB:.0f} MB limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
