"""The example alert rules: every metric they use is one the services export, and, where
promtool is installed (Debian's `prometheus` package has it), Prometheus accepts them and they
fire as their unit tests expect. CI does not install promtool; there that part is skipped."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy/prometheus/alerts.yml"
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def test_alerts_use_only_metrics_the_services_export() -> None:
    source = "".join(p.read_text() for p in (ROOT / "shared/metrics").glob("*.py"))
    used = set(re.findall(r"\bcarecoord_[a-z_]+\b", RULES.read_text()))
    assert used, "no carecoord metric in the rules"
    for name in used:
        family = next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)
        assert f'"{family}"' in source, f"{name} is not exported by shared/metrics"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.parametrize("command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]])
def test_promtool_accepts_the_rules(command: list[str]) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run([promtool, *command], cwd=RULES.parent, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
