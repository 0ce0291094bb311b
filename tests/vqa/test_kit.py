"""VLMEvalKit's import and scoring side effects stay inside `harness.vqa.kit` (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.paths import REPO_ROOT

SCRIPT = r"""
import json, logging, multiprocessing, os, ssl, sys, warnings
from pathlib import Path
import numpy as np, torch

def state():
    root = logging.getLogger()
    return dict(env=dict(os.environ), ssl=id(ssl._create_default_https_context),
                handlers=[id(h) for h in root.handlers], level=root.level, grad=torch.is_grad_enabled(),
                warnings=len(warnings.filters))

home = Path(os.environ["HOME"])
home_before = sorted(p.name for p in home.iterdir())
torch.manual_seed(7); expected = torch.rand(3).tolist(); torch.manual_seed(7)
before = state()
from harness.vqa import generated, kit, runner
from harness.specs import load_vqa_suite
after_import = state()
root = Path(sys.argv[1]); generated.stage(root)
suite = load_vqa_suite("embedded")
from harness.vqa.adapter import HarnessVLM
from harness.vqa.predict import predict
class Echo:
    def generate_batch(self, contents, **kw):
        return [next(c for c in content if isinstance(c, str))[:5] for content in contents]
tmp_before = {n for n in os.listdir("/tmp") if n[:14].isdigit()}
with kit.session(root):
    for name in ("TextVQA_VAL_EMB", "MMBench_DEV_EN_EMB"):  # mp.Pool(16) and a /tmp scratch file
        ds = runner.instantiate(next(b for b in suite.benchmarks if b.dataset == name))
        ds.evaluate(str(predict(HarnessVLM(Echo()), ds, root / "work", "echo", batch_size=8, progress=False)),
                    model="exact_matching", nproc=1)
after_use = state()
print(json.dumps(dict(
    import_same={k: before[k] == after_import[k] for k in before},
    use_same={k: before[k] == after_use[k] for k in before},
    env_diff=sorted(set(before["env"].items()) ^ set(after_use["env"].items())),
    rng_same=torch.rand(3).tolist() == expected,
    children=len(multiprocessing.active_children()),
    new_in_home=sorted(set(p.name for p in home.iterdir()) - set(home_before)),
    tmp_left=sorted({n for n in os.listdir("/tmp") if n[:14].isdigit()} - tmp_before),
    workaround=kit.used_torchvision_workaround(),
)))
"""


def test_import_and_scoring_leave_process_state_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LMUData"}
    env.update(HOME=str(home), VLM2VLA_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "lmudata")], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(report["import_same"].values()), report
    assert all(report["use_same"].values()), report
    assert report["env_diff"] == []
    assert report["rng_same"], "importing VLMEvalKit reseeded torch"
    assert report["children"] == 0, "VLMEvalKit's evaluation pool was left running"
    assert report["new_in_home"] == [], "VLMEvalKit created files in $HOME (e.g. ~/LMUData)"
    assert report["tmp_left"] == []
    assert "did not detect the .env" not in proc.stderr.lower()


TRANSFORMERS_FIRST = """
import transformers.models.gemma3.modeling_gemma3 as g
from harness.vqa import kit
kit.load()
from transformers import Gemma3ForConditionalGeneration
print("ok")
"""
KIT_FIRST = """
from harness.vqa import kit
kit.load()
import transformers.models.gemma3.modeling_gemma3 as g
from transformers import Gemma3ForConditionalGeneration
print("ok")
"""


def test_vlmevalkits_torchvision_never_breaks_transformers():
    """The CPU-only torchvision VLMEvalKit needs cannot load its compiled ops; installed normally it would break every
    `transformers` import in the venv. It lives in a private directory that only the kit adds to sys.path."""
    for script in (TRANSFORMERS_FIRST, KIT_FIRST):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT,
                              timeout=600)
        assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


SCRATCH = """
import json, os, sys
from pathlib import Path
from harness.vqa import kit
root = Path(sys.argv[1]); root.mkdir()
foreign = Path("/tmp") / "20991231235959.xlsx"  # another run's scratch copy, written while this session runs
with kit.session(root):
    import vlmeval.dataset.utils.multiple_choice as mc
    mine = Path("/tmp") / f"{mc.timestr()}.xlsx"
    mine.write_text("x"); foreign.write_text("y")
    second = mc.timestr()
report = dict(mine=mine.name, second=second, pid=os.getpid(), mine_left=mine.exists(), foreign_left=foreign.exists())
foreign.unlink()
print(json.dumps(report))
"""


def test_scratch_copies_are_this_processs_own(tmp_path):
    """VLMEvalKit's circular scoring names its /tmp copy by the second: two runs in the same second read each other's.
    In a session the name carries the pid and a counter, and only this process's copies are cleaned up."""
    proc = subprocess.run([sys.executable, "-c", SCRATCH, str(tmp_path / "lmudata")], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert f"-{report['pid']}-" in report["mine"] and report["second"] != report["mine"].removesuffix(".xlsx")
    assert not report["mine_left"] and report["foreign_left"]
