"""``make down``: stop a stack left running (services first, then Kafka and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack


def main() -> int:
    pids = stack.RUN / "services"
    for pid_file in pids.glob("*.pid") if pids.exists() else []:
        try:
            pid = int(pid_file.read_text())
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.2)
            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
        pid_file.unlink(missing_ok=True)
    stack.stop({"kafka", "kafka-3", "postgres"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
