"""Static checks of the Dockerfiles (no Docker engine here to build them), read with
BuildKit's own parser (the `dockerfile` package), so a syntax error fails too."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import dockerfile
import pytest

from tests.deploy.k8s import ROOT, SERVICES

#: Image -> the package directory it installs; the ops image (the platform application)
#: runs provision and rebuild.
IMAGES = {name: ROOT / "services" / name for name in SERVICES} | {"ops": ROOT / "apps" / "platform"}
LOCAL_PACKAGES = {
    tomllib.loads(path.read_text())["project"]["name"]: path.parent
    for path in ROOT.glob("*/*/pyproject.toml")
}


def stages(path: Path) -> list[list[dockerfile.Command]]:
    """The instructions of each build stage, FROM first."""
    found: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "FROM":
            found.append([])
        found[-1].append(command)
    return found


def local_dependencies(package_dir: Path) -> set[Path]:
    """The package's directory and those of every repo package it needs, transitively."""
    project = tomllib.loads((package_dir / "pyproject.toml").read_text())["project"]
    needed = {package_dir}
    for requirement in project.get("dependencies", []):
        name = re.split(r"[\s=<>!~\[;]", requirement, maxsplit=1)[0]
        if name in LOCAL_PACKAGES:
            needed |= local_dependencies(LOCAL_PACKAGES[name])
    return needed


@pytest.fixture(params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> tuple[str, Path, Path]:
    package_dir = IMAGES[request.param]
    dockerfile = package_dir / "Dockerfile"
    assert dockerfile.is_file(), f"{request.param} has no Dockerfile"
    return request.param, package_dir, dockerfile


def test_multi_stage_on_pinned_base_images(image):
    _, _, dockerfile = image
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2, "build and runtime stages"
    names: set[str] = set()
    for first, *_ in all_stages:
        base, *alias = first.value
        if base not in names:
            repository, _, tag = base.rpartition(":")
            assert "@sha256:" in base or (repository and tag and tag != "latest"), base
        if alias:
            names.add(alias[-1])


def test_runs_as_a_non_root_user(image):
    _, _, dockerfile = image
    users = [c.value[0] for c in stages(dockerfile)[-1] if c.cmd == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric UID lets the kubelet check runAsNonRoot"
    assert int(uid) != 0


def test_installs_the_package_with_every_repo_package_it_needs(image):
    _, package_dir, dockerfile = image
    copied = {
        ROOT / source
        for stage in stages(dockerfile)
        for c in stage
        if c.cmd == "COPY" and not c.flags
        for source in c.value[:-1]
    }
    for needed in local_dependencies(package_dir):
        assert any(needed == c or c in needed.parents for c in copied), needed


def test_entrypoint_starts_the_package(image):
    _, package_dir, dockerfile = image
    (entrypoint,) = [c for c in stages(dockerfile)[-1] if c.cmd == "ENTRYPOINT"]
    assert entrypoint.json, "exec form: the process gets SIGTERM itself"
    assert entrypoint.value[:2] == ("python", "-m")
    module = entrypoint.value[2]
    assert (package_dir / "src" / Path(*module.split(".")) / "__main__.py").is_file()


@pytest.mark.parametrize("service", [s for s in SERVICES if s.startswith("gpu-")])
def test_gpu_images_run_on_a_cuda_runtime_base(service):
    final_base = stages(IMAGES[service] / "Dockerfile")[-1][0].value[0]
    assert final_base.startswith("nvidia/cuda:")
    assert "-runtime-" in final_base


def test_the_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:4] == ["*", "!libs/", "!services/", "!apps/"]
