"""``carecoord serve --workers``: the option's values, and a service whose workers cannot start
stops instead of restarting them for ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.serving import STARTUP_FAILURE, worker_count

ROOT = Path(__file__).resolve().parents[3]


def test_worker_count() -> None:
    assert worker_count("1") == 1
    assert worker_count("3") == 3
    assert worker_count("auto") >= 1
    for bad in ("0", "-2", "two"):
        with pytest.raises(ValueError):
            worker_count(bad)


def test_workers_that_cannot_start_stop_the_service_with_their_code() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARECOORD_")}
    env.update({"CARECOORD_JWT_SECRET": "too-short",  # refused when the app is built
                "CARECOORD_PHARMACY_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                "CARECOORD_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    done = subprocess.run([sys.executable, "-m", "shared.cli", "serve", "pharmacy", "--port", "0", "--workers", "2"],
                          cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == STARTUP_FAILURE, done.stderr.decode(errors="replace")[-3000:]
    assert b"HS256 secret must be at least" in done.stderr
