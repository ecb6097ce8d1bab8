"""Child processes that announce their URL in a log line: the gateway, the chain server, proxies."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

LISTENING = re.compile(r"listening on (\S+)")


class ServiceProcess:
    """Start `argv`, read its output in a thread, and learn its URL from the first `listening on URL` line."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log: list[str] = []
        self.url = ""
        self._lines = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def python(cls, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> ServiceProcess:
        return cls([sys.executable, *args], env, cwd)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lines:
                self.log.append(line)
                self._lines.notify_all()
        with self._lines:
            self._ended = True
            self._lines.notify_all()

    def wait_for(self, pattern: re.Pattern, timeout: float = 60, after_line: int = 0) -> re.Match:
        """The first output line (from line `after_line` on) matching `pattern`, waiting up to `timeout`."""
        seen = after_line
        with self._lines:
            while True:
                for line in self.log[seen:]:
                    if match := pattern.search(line):
                        return match
                seen = len(self.log)
                if self._ended or not self._lines.wait(timeout):
                    raise RuntimeError(f"{self.proc.args[1:4]} never printed {pattern.pattern!r}:\n" + self.output())

    def wait_listening(self, timeout: float = 60) -> str:
        try:
            self.url = self.wait_for(LISTENING, timeout).group(1)
        except RuntimeError:
            self.kill()
            raise
        return self.url

    def terminate(self, timeout: float = 30, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        return "".join(self.log)

    def __enter__(self) -> ServiceProcess:
        self.wait_listening()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.terminate(10)
        except subprocess.TimeoutExpired:
            self.kill()
