"""The Docker path: no secret with a default, nothing published beyond 127.0.0.1, no root in the
image, and the env file with the secrets written 0600. (No Docker engine needed: the files are
read as compose and docker read them.)"""

from __future__ import annotations

import importlib.util
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
SECRETS = ("CARECOORD_JWT_SECRET", "CARECOORD_PG_PASSWORD")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def test_every_published_port_listens_on_loopback_only() -> None:
    published = [(name, port) for name, service in _compose()["services"].items()
                 for port in service.get("ports", [])]
    assert published, "the compose file publishes nothing?"
    assert all(str(port).startswith("127.0.0.1:") for _, port in published), published


def test_no_secret_has_a_default() -> None:
    text = COMPOSE.read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, f"{name} is not used"
        assert all(use.startswith(":?") for use in uses), f"{name} must be required (${{{name}:?…}}): {uses}"
    assert "carecoord:carecoord@" not in text
    assert _compose()["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")


def test_the_image_runs_as_a_non_root_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()]
    users = [i for i, line in enumerate(lines) if line.startswith("USER ")]
    assert users, "no USER in the Dockerfile: the services would run as root"
    user = lines[users[-1]].split()[1].split(":")[0]
    assert user not in ("root", "0")
    last_run = max(i for i, line in enumerate(lines) if line.startswith("RUN "))
    assert users[-1] > last_run, "USER must come after the last RUN"


def test_the_env_file_is_written_0600_with_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARECOORD_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.delitem(sys.modules, "stack", raising=False)  # env.py imports the stack module afresh
    spec = importlib.util.spec_from_file_location("docker_env", ROOT / "deploy" / "docker" / "env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delitem(sys.modules, "stack", raising=False)
    written = module.write()
    assert written == tmp_path / "run" / "docker.env"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in written.read_text().splitlines())
    assert set(values) == {*SECRETS, "CARECOORD_AUDIT_KEY"}
    assert all(len(value) >= 32 for value in values.values())
    assert module.write().read_text() == written.read_text(), "the secrets are made once and kept"
