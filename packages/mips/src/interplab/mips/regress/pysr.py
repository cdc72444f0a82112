"""Optional PySR backend: only where a Julia binary and the ``pysr`` package are both present.

PySR cannot run offline without a provisioned Julia (``mips.md`` §15), and interplab does not
depend on it. :func:`pysr_status` says whether it can be used and why not; the default chain
(:mod:`interplab.mips.regress.chain`) never calls it.
"""

from __future__ import annotations

import importlib.util
import shutil

__all__ = ["pysr_status"]


def pysr_status() -> tuple[bool, str]:
    """Whether the PySR backend can run here, and the reason if not.

    Returns:
        ``(True, "PySR backend available")`` or ``(False, reason)``, e.g.
        ``"PySR backend not available: julia not found"``.
    """
    if shutil.which("julia") is None:
        return False, "PySR backend not available: julia not found"
    if importlib.util.find_spec("pysr") is None:
        return False, "PySR backend not available: the pysr package is not installed"
    return True, "PySR backend available"
