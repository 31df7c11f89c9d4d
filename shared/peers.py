"""Restarts of the services this one depends on, for ``/ready``, as a process supervisor saw them.

A service cannot observe another's restart itself: a clinical service's relay is no member of
any consumer group coordination can see, and a restarted producer looks like any other. What
does know is whatever restarted it. So the supervisor of the local stack and of the chaos run
(``deploy/local/supervise.py``) writes what it did to a small JSON file, and a service given
that file (``CARECOORD_SUPERVISOR_STATUS``) shows, under ``peers`` in ``/ready``, the entries
of the services whose topics its consumers read: coordination the three clinical services,
pharmacy and therapy assessment (their patient directory). It is information, never a
reason to be unready: a peer that restarted a moment ago is why a lag grew, not a fault here.
The file holds pids, counts, times and exit codes; nothing about patients.

Without the variable (an orchestrator restarts the services and reports it elsewhere) the
key is absent. The file's ``written_at`` says how old the supervisor's word is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_TOPIC = re.compile(r"carecoord\.([a-z][a-z0-9_-]*)\.[a-z]+\.v\d+$")
SOURCE = "supervisor"


def upstream_services(topics: Iterable[str], own: str) -> list[str]:
    """The services whose topics (``[namespace]carecoord.<service>.<kind>.vN``) are among
    ``topics``, other than ``own``, sorted."""
    found = {m.group(1) for t in topics if (m := _TOPIC.search(t.removesuffix(".dlq")))}
    return sorted(found - {own})


def peers_entry(status: Mapping[str, Any] | None, upstream: Iterable[str]) -> dict[str, Any]:
    """What ``/ready`` shows under ``peers``: the supervisor's entries for ``upstream`` (an
    upstream service the supervisor does not run is ``unknown``); ``status`` None is a file
    that could not be read."""
    names = list(upstream)
    if status is None:
        return {"source": SOURCE, "error": "status unreadable", "services": {}}
    services = status.get("services")
    services = services if isinstance(services, Mapping) else {}
    return {"source": SOURCE, "written_at": status.get("written_at"),
            "services": {name: _entry(services.get(name)) for name in names}}


def _entry(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {"state": "unknown"}
    keep = ("state", "pid", "started_at", "restarts", "last_exit")
    return {k: value.get(k) for k in keep}


def read_status(path: Path) -> dict[str, Any] | None:
    """The supervisor's file, or None when it is missing or not a JSON object (being
    replaced: the supervisor renames a complete file into place, so a torn read means none)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
