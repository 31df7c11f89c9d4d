"""deploy/local/stack.py (the local broker and PostgreSQL), imported by path for tests and benches
that start, stop or inspect them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.py"
NAME = "carecoord_local_stack"


def load_stack() -> ModuleType:
    """The module, loaded once per process. It is registered before it runs: a dataclass in it
    looks its own module up while it is being made."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    spec = importlib.util.spec_from_file_location(NAME, STACK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[NAME]
        raise
    return module
