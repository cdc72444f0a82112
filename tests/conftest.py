from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh INTERPLAB_HOME, as on a new machine."""
    path = tmp_path / "home"
    monkeypatch.setenv("INTERPLAB_HOME", str(path))
    for name in ("INTERPLAB_STORE", "INTERPLAB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return path
