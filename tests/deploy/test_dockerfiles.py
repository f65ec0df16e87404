"""Static checks of the images (no Docker engine here to build them): deploy/docker/Dockerfile,
read with BuildKit's own parser (the `dockerfile` package), so a syntax error fails too, and
docker-bake.hcl, which names each image's target and the repo packages it installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import dockerfile
import pytest

from tests.deploy.k8s import ROOT, SERVICES

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
BAKE = ROOT / "docker-bake.hcl"
#: Image -> the package directory it installs; the ops image (the platform application)
#: runs provision and rebuild.
IMAGES = {name: ROOT / "services" / name for name in SERVICES} | {"ops": ROOT / "apps" / "platform"}
LOCAL_PACKAGES = {
    tomllib.loads(path.read_text())["project"]["name"]: path.parent
    for path in ROOT.glob("*/*/pyproject.toml")
}


def stages(path: Path = DOCKERFILE) -> dict[str, list[dockerfile.Command]]:
    """The instructions of each build stage, FROM first, by stage name (in file order)."""
    found: dict[str, list[dockerfile.Command]] = {}
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "FROM":
            current = found.setdefault(command.value[-1] if len(command.value) > 1 else "", [])
        current.append(command)
    return found


def image_instructions(target: str) -> list[dockerfile.Command]:
    """The instructions that make the image of a target: its base stages' first."""
    all_stages = stages()
    chain = all_stages[target]
    while chain[0].value[0] in all_stages:
        chain = all_stages[chain[0].value[0]] + chain
    return chain


def bake_packages() -> dict[str, list[str]]:
    """Image -> PACKAGES, as the rows of docker-bake.hcl's matrix give them."""
    rows = re.findall(
        r'\{\s*name\s*=\s*"([^"]+)",\s*packages\s*=\s*"([^"]+)"\s*\}', BAKE.read_text()
    )
    return {name: packages.split() for name, packages in rows}


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
def image(request: pytest.FixtureRequest) -> tuple[str, Path]:
    assert request.param in stages(), f"{request.param} has no target in {DOCKERFILE}"
    return request.param, IMAGES[request.param]


def test_bake_builds_every_image():
    assert sorted(bake_packages()) == sorted(IMAGES)


def test_multi_stage_on_pinned_base_images():
    all_stages = stages()
    assert len(all_stages) >= 2, "build and runtime stages"
    for first, *_ in all_stages.values():
        base = first.value[0]
        if base not in all_stages:
            repository, _, tag = base.rpartition(":")
            assert "@sha256:" in base or (repository and tag and tag != "latest"), base


def test_runs_as_a_non_root_user(image):
    name, _ = image
    users = [c.value[0] for c in image_instructions(name) if c.cmd == "USER"]
    assert users, "the image sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric UID lets the kubelet check runAsNonRoot"
    assert int(uid) != 0


def test_installs_the_package_with_every_repo_package_it_needs(image):
    name, package_dir = image
    installed = {ROOT / package for package in bake_packages()[name]}
    assert local_dependencies(package_dir) <= installed
    # The venv comes from a build stage that copies them in and installs PACKAGES.
    all_stages = stages()
    (build,) = [
        all_stages[c.flags[0].removeprefix("--from=")]
        for c in image_instructions(name)
        if c.cmd == "COPY" and c.value[0] == "/opt/venv"
    ]
    assert any(c.cmd == "ARG" and c.value[0] == "PACKAGES" for c in build)
    copied = {
        ROOT / source for c in build if c.cmd == "COPY" and not c.flags for source in c.value[:-1]
    }
    for needed in installed:
        assert any(needed == c or c in needed.parents for c in copied), needed


def test_entrypoint_starts_the_package(image):
    name, package_dir = image
    entrypoint = [c for c in image_instructions(name) if c.cmd == "ENTRYPOINT"][-1]
    assert entrypoint.json, "exec form: the process gets SIGTERM itself"
    assert entrypoint.value[:2] == ("python", "-m")
    module = entrypoint.value[2]
    assert (package_dir / "src" / Path(*module.split(".")) / "__main__.py").is_file()


@pytest.mark.parametrize("service", [s for s in SERVICES if s.startswith("gpu-")])
def test_gpu_images_run_on_a_cuda_runtime_base(service):
    final_base = image_instructions(service)[0].value[0]
    assert final_base.startswith("nvidia/cuda:")
    assert "-runtime-" in final_base


def test_the_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:4] == ["*", "!libs/", "!services/", "!apps/"]
