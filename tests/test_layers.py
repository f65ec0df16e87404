"""The layers of the monorepo, read from the imports of every module (no code is run).

- `libs/` are libraries: no module of theirs, source or test, imports a service
  (`atelier.gateway`, `atelier.workspace`, `atelier.library`, `atelier.gpu_*`, …) or the
  platform application (`atelier.platform`, apps/platform), which compose them.
- Among the libraries, each imports only those below it (`LIBRARY_LAYERS`).
- `libs/runtime` is plumbing any service uses: it needs no model library (torch, diffusers,
  Pillow, …); what the GPU services run around their model is `libs/inference`.
- A service's code imports libraries and itself: no other service, not the application.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Each library and the Atelier packages its source may import: the layers, bottom up.
LIBRARY_LAYERS = {
    "contracts": {"contracts"},
    "runtime": {"contracts", "runtime"},
    "inference": {"contracts", "runtime", "inference"},
    "stack": {"contracts", "runtime", "stack"},
}
#: What the generic plumbing never imports: the model and image libraries.
MODEL_LIBRARIES = {"torch", "diffusers", "transformers", "accelerate", "PIL", "av", "numpy"}


def packages_under(folder: str) -> dict[str, Path]:
    """`atelier.<name>` package -> the project directory holding it, for each project in
    `folder` (libs, services, apps)."""
    return {
        package.name: package.parents[2]
        for package in sorted(ROOT.glob(f"{folder}/*/src/atelier/*"))
        if package.is_dir() and not package.name.startswith(("_", "."))
    }


LIBRARIES = packages_under("libs")
SERVICES = packages_under("services")
APPLICATIONS = packages_under("apps")


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it stands (also
    inside functions), and of every `import_module("…")` / `__import__("…")` of a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:  # `from atelier import gateway`
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            name = function.id if isinstance(function, ast.Name) else name
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if name in ("import_module", "__import__") and literal:
                yield node.lineno, first.value


def atelier_package(module: str) -> str | None:
    """`gateway` for `atelier.gateway.auth`; None for a module outside `atelier`."""
    parts = module.split(".")
    return parts[1] if parts[0] == "atelier" and len(parts) > 1 else None


def python_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def assert_none_refused(files: list[Path], refused: Callable[[str], bool]) -> None:
    found = sorted(
        {
            f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in files
            for line, module in imported_modules(path)
            if refused(module)
        }
    )
    assert not found, "imports across the layers:\n" + "\n".join(found)


def test_the_layers_are_found():
    assert set(LIBRARY_LAYERS) == set(LIBRARIES), "a library without its layer: add it above"
    assert {"gateway", "workspace", "library", "gpu_sdxl", "gpu_wan"} <= set(SERVICES)
    assert "platform" in APPLICATIONS


def test_no_library_imports_a_service_or_the_application():
    composed = set(SERVICES) | set(APPLICATIONS) | {"gateway", "workspace", "library"}

    def refused(module: str) -> bool:
        package = atelier_package(module)
        return package is not None and (package in composed or package.startswith("gpu_"))

    assert_none_refused(python_files(ROOT / "libs"), refused)


@pytest.mark.parametrize("library", sorted(LIBRARY_LAYERS))
def test_a_library_imports_only_the_libraries_below_it(library: str):
    allowed = LIBRARY_LAYERS[library]

    def refused(module: str) -> bool:
        package = atelier_package(module)
        return package is not None and package not in allowed

    assert_none_refused(python_files(LIBRARIES[library] / "src"), refused)


def test_runtime_needs_no_model_library():
    def refused(module: str) -> bool:
        return module.split(".")[0] in MODEL_LIBRARIES

    assert_none_refused(python_files(LIBRARIES["runtime"] / "src"), refused)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_imports_libraries_and_itself_only(service: str):
    others = (set(SERVICES) - {service}) | set(APPLICATIONS)

    def refused(module: str) -> bool:
        return atelier_package(module) in others

    assert_none_refused(python_files(SERVICES[service] / "src"), refused)
