import importlib.metadata
import tomllib
from pathlib import Path

import interplab.robustness

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_public_surface_is_sorted_and_exists() -> None:
    names = interplab.robustness.__all__
    kind = {True: 0, False: 1}  # constants, then classes, then functions (ruff RUF022 order)
    assert names == sorted(names, key=lambda n: (kind[n.isupper()] if n[:1].isupper() else 2, n))
    assert all(hasattr(interplab.robustness, n) for n in names)


def test_declared_dependencies_are_installed_in_this_session() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for requirement in declared:
        name = requirement.split(">")[0].split("=")[0].split("[")[0].strip()
        assert importlib.metadata.version(name), name
