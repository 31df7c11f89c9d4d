"""``make bench``: start the local stack, run the benchmarks (tests/bench) against it, stop
what was started. ``--quick`` runs a smaller workload. Prints the table; writes no files
(docs/benchmarks.md is written by hand from a run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack


def main(argv: list[str], module: str = "tests.bench.main", label: str = "bench") -> int:
    """Run ``python -m <module> <argv>`` against the local stack (started if need be)."""
    try:
        with stack.session(keep=os.environ.get("KEEP_STACK") == "1") as env:
            t0 = time.monotonic()
            code = subprocess.call([sys.executable, "-m", module, *argv], cwd=stack.ROOT, env=env)
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[{label}] finished in {time.monotonic() - t0:.1f} s with exit code {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
