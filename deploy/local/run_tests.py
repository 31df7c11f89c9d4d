"""``make test``: start the local stack, run the whole suite against it, stop what was
started. Exits with pytest's code; "no tests collected" (5) is a failure like any other.

The suite runs in two passes. First every test but the ones marked ``alone`` (tests/conftest.py
marks the ``zz_`` ones: they stop or freeze the shared broker, or load the machine with a
cluster of their own), in one process, or with ``TEST_WORKERS=2`` in two (pytest-xdist). Each
test has its own schema and topic namespace, so tests side by side do not see each other; a
module's tests stay in one process (its module-scoped fixtures are made once), and modules are
handed out in the order collected. Then the ``alone`` tests, one after another, with nothing else
running. One process is the default until two have been shown not to make timing-sensitive
tests fail on a 2-core machine. Arguments go to both passes (``-x``, ``-k``, paths); arguments
that choose markers (``-m``) or processes (``-n``) make it one plain pytest run with exactly
those arguments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser
import stack

NO_TESTS = 5


def passes(argv: list[str], workers: int) -> list[tuple[str, list[str]]]:
    """(name, pytest arguments) of each pass."""
    if any(a in ("-m", "-n", "--numprocesses") or a.startswith(("-m", "-n", "--numprocesses=")) for a in argv):
        return [("as asked", argv)]
    parallel = ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"] if workers > 1 else []
    return [(f"in {max(workers, 1)} processes", [*argv, *parallel, "-m", "not alone"]),
            ("alone", [*argv, "-m", "alone"])]


def combined(codes: list[int]) -> int:
    """The first failure; "no tests collected" only when no pass collected any (a path given
    may hold no ``alone`` test, or only those)."""
    failures = [c for c in codes if c not in (0, NO_TESTS)]
    if failures:
        return failures[0]
    return NO_TESTS if all(c == NO_TESTS for c in codes) else 0


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    browser.ensure_chromium()  # the browser test's headless Chromium, from Debian, where missing
    workers = int(os.environ.get("TEST_WORKERS", "1"))
    codes, times = [], []
    try:
        with stack.session(keep=os.environ.get("KEEP_STACK") == "1") as env:
            t1 = time.monotonic()
            for name, args in passes(argv, workers):
                started = time.monotonic()
                codes.append(subprocess.call([sys.executable, "-m", "pytest", *args], cwd=stack.ROOT, env=env))
                times.append(f"{name} {time.monotonic() - started:.1f} s (exit {codes[-1]})")
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    code = combined(codes)
    print(f"[test] stack ready in {t1 - t0:.1f} s; suite ran {time.monotonic() - t1:.1f} s: {'; '.join(times)}; "
          f"exit code {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
