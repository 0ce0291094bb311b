"""A stand-in for OpenVLA's `vla-scripts/deploy.py` with its REST semantics: `POST /act`, a json-numpy body
{image, instruction, unnorm_key}, the 7-dim action back as json-numpy, and the JSON string "error" with HTTP 200 when the prediction fails. `mode` injects faults."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import json_numpy
import numpy as np


def fake_action(image: np.ndarray, instruction: str) -> np.ndarray:
    """A deterministic 7-dim action from the inputs (so the test can check what the server received)."""
    m = float(image.mean()) / 255.0
    return np.array([0.01 * m, -0.02, 0.003 * len(instruction), 0.1, 0.0, -0.1, 1.0], dtype=np.float64)


class FakeDeployServer:
    def __init__(self, mode: str = "ok", stall_s: float = 5.0):
        self.mode, self.stall_s, self.requests = mode, stall_s, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                if self.path != "/act":
                    self.send_error(404)
                    return
                payload = json_numpy.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
                outer.requests.append(payload)
                if outer.mode == "stall":
                    time.sleep(outer.stall_s)
                try:
                    if outer.mode == "error":
                        raise RuntimeError("prediction failed")
                    action = fake_action(payload["image"], payload["instruction"])
                    body = json_numpy.dumps(action)
                except Exception:  # deploy.py: log, then return "error" with status 200
                    body = json.dumps("error")
                if outer.mode == "garbage":
                    body = "<html>not json"
                data = body.encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (the stall test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeDeployServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
