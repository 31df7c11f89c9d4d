"""deploy/local's scripts (stack.py: the local broker and PostgreSQL; bench_scaling.py), imported by
path for tests and benches that start, stop or inspect them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local"


def load_local(name: str) -> ModuleType:
    """deploy/local/<name>.py (no package), loaded once per process. It is registered before it
    runs: a dataclass in it looks its own module up while it is being made."""
    key = f"carecoord_local_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, LOCAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module


def load_stack() -> ModuleType:
    """deploy/local/stack.py."""
    return load_local("stack")
