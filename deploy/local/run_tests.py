"""``make test``: start the local stack, run the whole suite against it, stop what was
started. Exits with pytest's code; "no tests collected" (5) is a failure like any other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser
import stack


def main(argv: list[str]) -> int:
    t0 = time.monotonic()
    browser.ensure_chromium()  # the browser test's headless Chromium, from Debian, where missing
    try:
        with stack.session(keep=os.environ.get("KEEP_STACK") == "1") as env:
            t1 = time.monotonic()
            code = subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=stack.ROOT, env=env)
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[test] stack ready in {t1 - t0:.1f} s; suite ran {time.monotonic() - t1:.1f} s; exit code {code}",
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
