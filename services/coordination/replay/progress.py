"""The replay's progress line (events, rate, ETA): pure formatting, and a printer that writes it
at most once a second to stderr (the report goes to stdout)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def line(label: str, done: int, total: int | None, seconds: float) -> str:
    """``replay: 52,340 / 100,000 events · 21,500 ev/s · ETA 2 s``; no ETA without a total or a rate."""
    rate = done / seconds if seconds > 0 else 0.0
    parts = [f"{label}: {done:,}" + (f" / {total:,}" if total is not None else "") + " events",
             f"{rate:,.0f} ev/s"]
    if total is not None and rate > 0:
        parts.append(f"ETA {max(total - done, 0) / rate:,.0f} s")
    return " · ".join(parts)


@dataclass
class Progress:
    label: str
    total: int | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    every: float = 1.0
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    _shown: float = 0.0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._shown >= self.every:
            self._shown = now
            print("\r" + line(self.label, self.done, self.total, now - self.started), end="", file=self.stream,
                  flush=True)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def finish(self) -> str:
        text = line(self.label, self.done, self.total, self.seconds) + f" in {self.seconds:,.1f} s"
        print("\r" + text, file=self.stream, flush=True)
        return text
