"""``make bench-scale``: start the local stack, run tests/bench/scale against it (how cost grows
with the store, the stream and the instances), stop what was started. Arguments go to the
benchmark: ``--quick``, ``--max-events N``, ``--only PART``. Prints the table; writes no files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack


def main(argv: list[str]) -> int:
    try:
        with stack.session(keep=os.environ.get("KEEP_STACK") == "1") as env:
            t0 = time.monotonic()
            code = subprocess.call([sys.executable, "-m", "tests.bench.scale", *argv], cwd=stack.ROOT, env=env)
    except stack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[bench-scale] finished in {time.monotonic() - t0:.1f} s with exit code {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
