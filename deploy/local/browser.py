"""Headless Chromium for the browser tests: Debian's ``chromium`` package, installed where missing.

Standard library only, like ``stack.py``. Playwright drives this binary (its own browser
download is never used), so a fresh machine needs nothing from outside the package registries.

    python deploy/local/browser.py      # install if missing; prints where it is
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("CARECOORD_CHROMIUM", "/usr/bin/chromium")


def log(msg: str) -> None:
    print(f"[browser] {msg}", file=sys.stderr, flush=True)


def chromium_present() -> bool:
    return os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM) is not None


def ensure_chromium() -> bool:
    """True when Chromium is there (now or already). Never fails the caller: without it the
    browser test fails and says how to install it."""
    if chromium_present():
        return True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log(f"Chromium not found at {CHROMIUM}; the browser test needs it: sudo apt-get install -y chromium")
        return False
    log("installing Debian's chromium for the browser test (first run only)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
    result = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0 or not chromium_present():
        log(f"apt-get install chromium failed:\n{result.stderr[-2000:]}")
        return False
    return True


if __name__ == "__main__":
    ok = ensure_chromium()
    if ok:
        log(f"Chromium: {CHROMIUM}")
    sys.exit(0 if ok else 1)
