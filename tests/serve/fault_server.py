"""A real policy server process (our `PolicyServer`, the scripted policy) with one fault injected at the N-th `act`
this process serves: `die` (the process kills itself with SIGKILL mid-request), `stall` (that request takes
`--stall-s` seconds) or `garbage` (that reply's `actions` is not an action array). Every other request is served
normally, so after a stall or garbage the same server is "back". Used by the fault-injection tests:

    python -m tests.serve.fault_server --fault die --at 7 --port-file PORT_FILE
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time

from harness.policy.scripted import ScriptedPolicy
from harness.records.atomic import atomic_write_text
from harness.serve import protocol
from harness.serve.server import PolicyServer, ServedModel
from harness.specs import load_model

FAULTS = ("die", "stall", "garbage")


class FaultyPolicy(ScriptedPolicy):
    acts = 0  # across every connection of this process
    fault, at, stall_s = "die", 0, 0.0

    def act(self, observation):
        FaultyPolicy.acts += 1
        if FaultyPolicy.acts == self.at:
            if self.fault == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            elif self.fault == "stall":
                time.sleep(self.stall_s)
            else:
                _garbage_next.set()
        return super().act(observation)


_garbage_next = threading.Event()
_real_cycle_reply = protocol.cycle_reply


def _cycle_reply(out):
    """The server's reply builder, answering garbage once when asked to (the wire stays valid msgpack)."""
    reply = _real_cycle_reply(out)
    if _garbage_next.is_set():
        _garbage_next.clear()
        reply["actions"] = "forward a bit"
    return reply


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fault", choices=FAULTS, required=True)
    ap.add_argument("--at", type=int, required=True, help="the act call (1-based, whole process) that faults")
    ap.add_argument("--stall-s", type=float, default=3.0)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    FaultyPolicy.fault, FaultyPolicy.at, FaultyPolicy.stall_s = args.fault, args.at, args.stall_s
    protocol.cycle_reply = _cycle_reply  # the server module calls `P.cycle_reply` through the module
    spec = load_model("scripted")
    server = PolicyServer(ServedModel(spec, FaultyPolicy), "127.0.0.1", args.port).start()
    atomic_write_text(args.port_file, f"{server.port}\n")
    threading.Event().wait()


if __name__ == "__main__":
    main()
