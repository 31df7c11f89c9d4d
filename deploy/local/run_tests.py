"""``make test``: start the local stack, run the whole suite against it, stop what was
started. Exits with pytest's code; "no tests collected" (5) is a failure like any other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack


def main(argv: list[str]) -> int:
    before = set(stack.STARTED_MARK.read_text().split()) if stack.STARTED_MARK.exists() else set()
    try:
        stack.start({"kafka", "postgres"})
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    after = set(stack.STARTED_MARK.read_text().split()) if stack.STARTED_MARK.exists() else set()
    env = dict(os.environ)
    env.update(line.split("=", 1) for line in stack.env_lines())
    t0 = time.monotonic()
    try:
        code = subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=stack.ROOT, env=env)
    finally:
        if os.environ.get("KEEP_STACK") != "1" and after - before:
            stack.stop(after - before)
    print(f"[test] suite finished in {time.monotonic() - t0:.1f} s with exit code {code}",
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
