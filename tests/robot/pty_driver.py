"""A minimal expect-style driver: run a command on a pseudo-terminal (its controlling terminal, so Ctrl-C is a real
SIGINT from the tty driver), wait for text, type keystrokes."""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import sys
import termios
import time

from harness.paths import REPO_ROOT


def _make_controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        master, slave = os.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", *args], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=REPO_ROOT, env={**os.environ, **(env or {})},
                                     start_new_session=True, preexec_fn=_make_controlling_tty)
        os.close(slave)
        self.master, self.output, self.pos = master, "", 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait until `pattern` (regex) appears after the last match; return the text up to its end."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.output, self.pos)
            if m:
                seen, self.pos = self.output[self.pos : m.end()], m.end()
                return seen
            left = deadline - time.monotonic()
            got = left > 0 and self._read(min(left, 0.5))
            if left <= 0 or (not got and self.proc.poll() is not None and not self._read(0.2)):
                if not rx.search(self.output, self.pos):
                    raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output[-3000:]}")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def sendline(self, text: str = "") -> None:
        self.send(text + "\n")

    def ctrl_c(self) -> None:
        self.send("\x03")

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.05):
            pass
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
