"""Render the kustomize overlays and validate every manifest they produce, offline.

    python -m deploy.k8s.validate                # both overlays; exit 1 on any invalid manifest
    python -m deploy.k8s.validate production     # one

Rendering uses kustomize itself, installed once per machine with ``go install`` into
``.run/tools/`` (``KUSTOMIZE=/path/to/kustomize`` uses another). Core kinds are validated by
``kubernetes-validate`` against the Kubernetes API's own OpenAPI schemas (strict: an unknown
field is an error). Strimzi, CloudNativePG and KEDA resources are validated with
``jsonschema`` against the ``openAPIV3Schema`` of the CRDs vendored in ``deploy/k8s/crds/``
(``crds/generate.sh`` says where they come from), made strict the way the API server's
strict field validation is: a field the schema does not declare is an error, except where the
schema keeps unknown fields (``x-kubernetes-preserve-unknown-fields``). A kind with no schema
is an error, never a pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CRDS = K8S / "crds"
OVERLAYS = ("local", "production")
KUSTOMIZE_VERSION = "v5.7.1"
TOOLS = ROOT / ".run" / "tools" / f"kustomize-{KUSTOMIZE_VERSION}"
# The oldest Kubernetes minor the manifests promise to work on.
KUBERNETES_VERSION = "1.31.0"
# libyaml's loader where PyYAML has it: the vendored CRDs are close to a megabyte.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RenderError(RuntimeError):
    """kustomize could not be installed or refused to build an overlay."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes must not build it at once
        yield


def kustomize() -> Path:
    """The kustomize binary: ``$KUSTOMIZE``, else ours under .run/tools, built with Go once."""
    if os.environ.get("KUSTOMIZE"):
        return Path(os.environ["KUSTOMIZE"])
    binary = TOOLS / "kustomize"
    if binary.exists():
        return binary
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise RenderError("kustomize is not installed and there is no Go toolchain to build it "
                          f"(go install sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}); "
                          "or set KUSTOMIZE to a kustomize binary")
    with _locked(TOOLS.with_suffix(".lock")):
        if not binary.exists():
            env = {**os.environ, "GOBIN": str(TOOLS), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
            done = subprocess.run([go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
                                  env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0 or not binary.exists():
                raise RenderError(f"go install of kustomize failed: {done.stderr.strip()[-2000:]}")
    return binary


def render(overlay: str | Path) -> list[dict[str, Any]]:
    """Every document ``kustomize build`` makes of an overlay (a name under overlays/ or a path)."""
    path = Path(overlay) if isinstance(overlay, Path) else K8S / "overlays" / overlay
    done = subprocess.run([str(kustomize()), "build", str(path)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RenderError(f"kustomize build {path}: {done.stderr.strip()}")
    return [doc for doc in yaml.load_all(done.stdout, Loader=LOADER) if doc]


def _strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever an object lists its fields and
    neither keeps unknown fields nor says what else it allows (as strict field validation)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the strict schema of that served version, from crds/."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    schema = _strict(version["schema"]["openAPIV3Schema"])
                    # metadata is the API server's (ObjectMeta); the CRD leaves it open.
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def validate(doc: dict[str, Any]) -> list[str]:
    """What is wrong with one manifest (empty: valid)."""
    api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    name = f"{kind} {doc.get('metadata', {}).get('name', '?')}"
    custom = crd_schemas().get((api, kind))
    if custom is not None:
        validator = jsonschema.Draft7Validator(custom)
        return [f"{name}: {_where(e)}: {e.message}" for e in sorted(validator.iter_errors(doc), key=str)]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{name}: {'/'.join(str(p) for p in exc.path) or '(root)'}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"{name}: no schema for {api} {kind} (a custom kind's CRD belongs in deploy/k8s/crds/): {exc}"]
    return []


def main(argv: list[str]) -> int:
    failed = 0
    for overlay in argv or OVERLAYS:
        docs = render(overlay)
        problems = [p for doc in docs for p in validate(doc)]
        failed += len(problems)
        print(f"{overlay}: {len(docs)} manifests, {len(problems)} problems")
        for problem in problems:
            print(f"  {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
