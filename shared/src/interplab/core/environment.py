"""What a record says about where it was produced (versions, git sha, device, host)."""

from __future__ import annotations

import functools
import platform
import re
import socket
import subprocess
from importlib import metadata

from interplab.core.records import Environment

__all__ = ["TRACKED_DISTRIBUTIONS", "capture_environment", "package_versions"]

TRACKED_DISTRIBUTIONS = (
    "interplab-core",
    "interplab-robustness",
    "interplab-mips",
    "interplab-seglabels",
    "torch",
    "numpy",
    "transformer-lens",
    "transformers",
    "segmentation-models-pytorch",
    "timm",
    "cleanlab",
    "sympy",
    "ray",
)
"""Distributions whose versions every record carries (those installed)."""


@functools.cache
def package_versions() -> tuple[tuple[str, str], ...]:
    """(name, version) of the installed :data:`TRACKED_DISTRIBUTIONS`."""
    found = []
    for name in TRACKED_DISTRIBUTIONS:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


@functools.cache
def _git_sha() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and sha else None


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _with_plugin(packages: dict[str, str], analysis: str | None) -> dict[str, str]:
    """``packages`` plus the distribution that registers ``analysis``, when not already there."""
    from interplab.core.registry import analysis_distribution

    found = analysis_distribution(analysis) if analysis else None
    if found is not None and _normalised(found[0]) not in {_normalised(n) for n in packages}:
        packages[found[0]] = found[1]
    return packages


def capture_environment(
    *, device: str = "", seed: int | None = None, analysis: str | None = None
) -> Environment:
    """The current process's :class:`Environment`.

    ``analysis``: the name of the analysis being run; the distribution that registers it (a
    third-party plugin, say) is recorded with its version next to :data:`TRACKED_DISTRIBUTIONS`.
    """
    return Environment(
        python=platform.python_version(),
        platform=platform.platform(),
        hostname=socket.gethostname(),
        packages=_with_plugin(dict(package_versions()), analysis),
        git_sha=_git_sha(),
        device=device,
        seed=seed,
    )
