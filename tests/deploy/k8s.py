"""The rendered Kubernetes manifests, as the tests read them.

Rendering uses kustomize as built into kubectl (or a standalone `kustomize`), offline;
without either, the tests that need a render are skipped, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
#: Kubernetes version whose schemas the manifests must satisfy (kubernetes-validate).
KUBERNETES_VERSION = "1.33"
#: Services, as directories under services/ (each must be deployed).
SERVICES = sorted(path.name for path in (ROOT / "services").iterdir() if path.is_dir())
GPU_SERVICES = [name for name in SERVICES if name.startswith("gpu-")]


def kustomize_command(directory: Path) -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    pytest.skip("neither kustomize nor kubectl is installed: the overlays cannot be rendered")


def render(directory: Path) -> list[dict]:
    done = subprocess.run(
        kustomize_command(directory), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, object]:
    """The container's literal env values; those from a field or secret map to None."""
    return {item["name"]: item.get("value") for item in container.get("env", [])}


def env_sources(container: dict) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret the container takes all keys from."""
    for source in container.get("envFrom", []):
        for kind in ("configMapRef", "secretRef"):
            if kind in source:
                yield kind, source[kind]["name"]
