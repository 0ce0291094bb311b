"""OpenVLA / ECoT served from their own pinned environment (`make baseline-env NAME=openvla|ecot`).

Their remote code targets transformers 4.40.1 (+ timm 0.9.10, tokenizers 0.19.1) while the harness runs transformers
5, so this file is stand-alone: it imports nothing from `harness` and runs with `.venvs/NAME/bin/python` (`make
serve-baseline NAME=openvla`). It speaks OpenVLA's own REST protocol (`vla-scripts/deploy.py`), which the harness's
`openvla-rest` client (`harness/serve/openvla_rest.py`) talks to:

- `POST /act` {image: uint8 HxWx3, instruction: str, unnorm_key: str} (json-numpy) -> the 7-dim action (dx, dy, dz,
  droll, dpitch, dyaw, gripper) un-normalised with `unnorm_key` (Bridge: bridge_orig). OpenVLA: `predict_action(
  **inputs, unnorm_key=..., do_sample=False)`. ECoT: `predict_action(..., max_new_tokens=1024)` returns (action,
  generated_ids); the reply is then {action, reasoning} with the decoded chain of thought, logged per cycle.
- `POST /generate` {image, prompt, max_new_tokens} -> {text}: VQA through the baseline. Their processors have no chat
  template, so the prompt goes in OpenVLA's plain "In: ...\\nOut:" format.
- `GET /healthz`.
A failed prediction answers the JSON string "error" with HTTP 200, as deploy.py does (the client treats it as a
fault); the traceback goes to stderr. One prediction at a time (a lock): a second client waits.

The checkpoint is a directory or a Hugging Face id read from the local cache only (`huggingface-cli download ID`
first); it is loaded as the baselines document it: `AutoModelForVision2Seq` + `AutoProcessor` with
`trust_remote_code=True`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KINDS = {  # per kind: its checkpoint, prompt (per the model cards) and action budget
    "openvla": {"checkpoint": "openvla/openvla-7b",
                "prompt": "In: What action should the robot take to {instruction}?\nOut:"},
    "ecot": {"checkpoint": "Embodied-CoT/ecot-openvla-7b-bridge",
             "prompt": "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                       "helpful, detailed, and polite answers to the user's questions. USER: What action should the "
                       "robot take to {instruction}? ASSISTANT: TASK:"},
}
VQA_PROMPT = "In: {prompt}\nOut:"
ECOT_MAX_NEW_TOKENS = 1024


class CheckpointMissing(RuntimeError):
    """The checkpoint is neither a directory nor in the local Hugging Face cache."""


def resolve_checkpoint(checkpoint: str) -> Path:
    """A directory as given, else the snapshot of a hub id in the local cache (never downloads)."""
    if Path(checkpoint).is_dir():
        return Path(checkpoint)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(checkpoint, local_files_only=True))
    except Exception as e:  # LocalEntryNotFoundError, HFValidationError, ...
        raise CheckpointMissing(
            f"checkpoint {checkpoint!r} is not a directory and not in the local Hugging Face cache ({e}); fetch it "
            f"with `huggingface-cli download {checkpoint}` (or pass --checkpoint DIR)") from e


def import_torchvision() -> None:
    """timm (the baselines' vision backbones) imports torchvision. With a CPU-only torch, torchvision's compiled
    ops cannot load (`operator torchvision::nms does not exist`); nothing here calls them, so on that exact failure
    register the two missing op schemas and import again (the harness's `harness.vqa.kit` does the same for
    VLMEvalKit; this file cannot import the harness)."""
    try:
        import torchvision  # noqa: F401
        return
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    for op in ("nms", "qnms"):
        with contextlib.suppress(RuntimeError):
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision  # noqa: F401,F811


class Baseline:
    """The loaded model and processor, and the two requests it answers."""

    def __init__(self, kind: str, checkpoint: str, device: str = "auto", dtype: str = "auto"):
        self.kind, self.path = kind, resolve_checkpoint(checkpoint)  # first: a missing checkpoint fails fast
        import torch

        import_torchvision()
        from transformers import AutoModelForVision2Seq, AutoProcessor

        self.device = ("cuda:0" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.dtype = getattr(torch, dtype) if dtype != "auto" else (
            torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        self.processor = AutoProcessor.from_pretrained(self.path, trust_remote_code=True, local_files_only=True)
        self.model = AutoModelForVision2Seq.from_pretrained(
            self.path, torch_dtype=self.dtype, trust_remote_code=True, local_files_only=True,
            low_cpu_mem_usage=True).to(self.device)
        self.model.eval()
        self.lock = threading.Lock()

    def _inputs(self, prompt: str, image: Any) -> Any:
        from PIL import Image

        return self.processor(prompt, Image.fromarray(image).convert("RGB")).to(self.device, dtype=self.dtype)

    def act(self, image: Any, instruction: str, unnorm_key: str | None) -> Any:
        """OpenVLA: the action. ECoT: {action, reasoning}."""
        import torch

        prompt = KINDS[self.kind]["prompt"].format(instruction=instruction.lower())
        with self.lock, torch.inference_mode():
            inputs = self._inputs(prompt, image)
            if self.kind == "openvla":
                return self.model.predict_action(**inputs, unnorm_key=unnorm_key, do_sample=False)
            action, generated_ids = self.model.predict_action(**inputs, unnorm_key=unnorm_key, do_sample=False,
                                                              max_new_tokens=ECOT_MAX_NEW_TOKENS)
        text = self.processor.batch_decode(generated_ids)[0]
        return {"action": action, "reasoning": text.split("ASSISTANT:", 1)[-1].strip()}

    def generate(self, image: Any, prompt: str, max_new_tokens: int) -> dict[str, str]:
        import torch

        with self.lock, torch.inference_mode():
            inputs = self._inputs(VQA_PROMPT.format(prompt=prompt), image)
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1]:]
        return {"text": self.processor.batch_decode(new, skip_special_tokens=True)[0].strip()}


def make_server(baseline: Baseline, host: str, port: int) -> ThreadingHTTPServer:
    import json_numpy

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write(f"[{baseline.kind}-server] {fmt % args}\n")

        def _reply(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, json.dumps({"ok": True, "kind": baseline.kind, "checkpoint": str(baseline.path)}))
            else:
                self._reply(404, json.dumps({"error": f"no GET {self.path}; try /healthz"}))

        def do_POST(self) -> None:
            if self.path not in ("/act", "/generate"):
                self._reply(404, json.dumps({"error": f"no POST {self.path}; endpoints: /act, /generate"}))
                return
            try:
                payload = json_numpy.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                if self.path == "/act":
                    reply = baseline.act(payload["image"], payload["instruction"], payload.get("unnorm_key"))
                else:
                    reply = baseline.generate(payload["image"], payload["prompt"],
                                              int(payload.get("max_new_tokens", 64)))
                body = json_numpy.dumps(reply)
            except Exception:  # deploy.py's contract: log, then "error" with HTTP 200
                traceback.print_exc()
                body = json.dumps("error")
            self._reply(200, body)

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=sorted(KINDS), default="openvla")
    parser.add_argument("--checkpoint", help="directory or Hugging Face id in the local cache (default: the kind's)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bfloat16, float32")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        baseline = Baseline(args.kind, args.checkpoint or KINDS[args.kind]["checkpoint"], args.device, args.dtype)
    except CheckpointMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    server = make_server(baseline, args.host, args.port)
    print(f"{args.kind} ({baseline.path}) loaded in {time.perf_counter() - t0:.1f} s; serving on "
          f"http://{args.host}:{server.server_address[1]} (POST /act, POST /generate, GET /healthz)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
