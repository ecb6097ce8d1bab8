"""How long a supervisor waits before it starts again a process that died: a pause that doubles while the process
keeps dying young, and starts over once one lived long enough to count as healthy. The pre-fork supervisor's HTTP
workers and `serve`'s browser workers both use it."""

from __future__ import annotations


class RestartPause:
    def __init__(self, first_s: float, max_s: float, healthy_after_s: float) -> None:
        self.first_s, self.max_s, self.healthy_after_s = first_s, max_s, healthy_after_s
        self.pause_s = first_s

    def after(self, lived_s: float) -> float:
        """The pause before the next start of a process that died after `lived_s`."""
        self.pause_s = self.first_s if lived_s > self.healthy_after_s else min(self.pause_s * 2, self.max_s)
        return self.pause_s
