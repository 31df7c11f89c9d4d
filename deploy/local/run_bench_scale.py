"""``make bench-scale``: start the local stack, run tests/bench/scale against it (how cost grows
with the store, the stream and the instances), stop what was started. Arguments go to the
benchmark: ``--quick``, ``--max-events N``, ``--only PART``. Prints the table; writes no files."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_bench

if __name__ == "__main__":
    sys.exit(run_bench.main(sys.argv[1:], module="tests.bench.scale", label="bench-scale"))
