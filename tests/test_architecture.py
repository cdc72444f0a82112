"""The layout DESIGN.md fixes, and the one-way import direction between packages."""

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = {
    "robustness": "packages/robustness",
    "mips": "packages/mips",
    "seglabels": "packages/seglabels",
}
COMPOSE = "experiments/compose"
"""The one package that may import the others: experiments that cross package lines."""


def imports_of(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_top_level_is_exactly_the_agreed_layout() -> None:
    visible = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    assert visible == {
        "pyproject.toml", "uv.lock", "README.md", "CONTRIBUTING.md", "noxfile.py", "shared",
        "packages", "experiments", "tests",
    }  # fmt: skip
    assert (ROOT / ".ci" / "run").is_file()


def test_workspace_members_and_distributions() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    plugin = "experiments/plugins/example-analysis"  # the example third-party plugin
    members = root["tool"]["uv"]["workspace"]["members"]
    assert members == ["shared", *PACKAGES.values(), plugin, COMPOSE]
    names = {
        tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]["name"]
        for folder in ["shared", *PACKAGES.values(), COMPOSE]
    }
    assert names == {
        "interplab-core",
        "interplab-robustness",
        "interplab-mips",
        "interplab-seglabels",
        "interplab-compose",
    }


def test_interplab_is_a_namespace_package() -> None:
    for folder in ["shared", *PACKAGES.values(), COMPOSE]:
        assert not (ROOT / folder / "src" / "interplab" / "__init__.py").exists(), folder
    import interplab

    assert getattr(interplab, "__file__", None) is None, "PEP 420: no interplab/__init__.py"
    assert len(list(interplab.__path__)) == 5


@pytest.mark.parametrize("name", ["core", *PACKAGES])
def test_every_package_imports(name: str) -> None:
    module = importlib.import_module(f"interplab.{name}")
    names = list(module.__all__)
    assert names == sorted(names, key=isort_key), "ruff's RUF022 order"
    assert all(hasattr(module, n) for n in names)


def isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then the rest (ruff RUF022's isort-style order)."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def test_core_never_imports_a_research_package() -> None:
    for path, names in imports_of(ROOT / "shared" / "src").items():
        bad = {n for n in names if n.split(".")[:2] in (["interplab", p] for p in PACKAGES)}
        assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_import_only_core_and_never_the_store_or_report(name: str) -> None:
    for path, names in imports_of(ROOT / PACKAGES[name] / "src").items():
        ours = {n for n in names if n.startswith("interplab.")}
        other = {n for n in ours if not n.startswith(("interplab.core", f"interplab.{name}"))}
        assert not other, f"{path} imports another research package: {other}"
        direct = {
            n for n in ours if n.startswith(("interplab.core.store", "interplab.core.report"))
        }
        assert not direct, f"{path} must yield records, not write the store or report: {direct}"


def test_compose_uses_the_packages_but_never_the_store_or_report_directly() -> None:
    for path, names in imports_of(ROOT / COMPOSE / "src").items():
        direct = {
            n for n in names if n.startswith(("interplab.core.store", "interplab.core.report"))
        }
        assert not direct, f"{path} must yield records, not write the store or report: {direct}"
    for name, folder in PACKAGES.items():
        for path, names in imports_of(ROOT / folder / "src").items():
            assert not any(n.startswith("interplab.compose") for n in names), (name, path)


def test_cli_imports_nothing_heavy_with_every_package_installed() -> None:
    import subprocess
    import sys

    code = (
        "import sys, interplab.core.cli as c; "
        "assert 'seglabels' in [g.name for g in c.app.registered_groups]; "
        "heavy = [m for m in ('numpy', 'torch', 'pandas', 'scipy', 'sqlalchemy') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
