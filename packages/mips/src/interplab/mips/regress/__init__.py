"""Regress transition and output functions to exact integer expressions (``mips.md`` §10, §15).

Backends: :func:`fit_linear` (integer linear regression with rounding), :func:`fit_boolean`
(shortest DNF/CNF/ANF/XOR/threshold form via sympy), :func:`enumerate_expression` (brute-force
search over ``+ - * // % abs min max == <`` with small constants), and optionally
:func:`fit_pysr` (PySR, where Julia is provisioned); :func:`fit_expression` chains them.
Expressions are :mod:`~interplab.mips.regress.expr` trees printed as Python.
"""

from .boolean import fit_boolean as fit_boolean
from .chain import BACKENDS as BACKENDS
from .chain import OPTIONAL_BACKENDS as OPTIONAL_BACKENDS
from .chain import Fit as Fit
from .chain import default_backends as default_backends
from .chain import fit_expression as fit_expression
from .enumerate import Grammar as Grammar
from .enumerate import enumerate_expression as enumerate_expression
from .expr import Const as Const
from .expr import Expr as Expr
from .expr import Op as Op
from .expr import Var as Var
from .expr import evaluate as evaluate
from .expr import render as render
from .linear import fit_linear as fit_linear
from .pysr import PySRUnavailableError as PySRUnavailableError
from .pysr import fit_pysr as fit_pysr
from .pysr import pysr_status as pysr_status
from .pysr import sympy_to_expr as sympy_to_expr

__all__ = [
    "BACKENDS",
    "OPTIONAL_BACKENDS",
    "Const",
    "Expr",
    "Fit",
    "Grammar",
    "Op",
    "PySRUnavailableError",
    "Var",
    "default_backends",
    "enumerate_expression",
    "evaluate",
    "fit_boolean",
    "fit_expression",
    "fit_linear",
    "fit_pysr",
    "pysr_status",
    "render",
    "sympy_to_expr",
]
