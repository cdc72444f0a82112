"""What every route shares.

The result type, input names, the network as NumPy functions, and the regression helpers.

Shapes: ``B`` states, ``n`` hidden units, ``P`` continuations of ``k`` steps, ``d_in`` / ``d_out``
integers per position.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..codegen import ProgramSpec
from ..regress.chain import Fit, fit_expression
from ..regress.enumerate import Grammar
from ..rnn import GeneralRNN
from ..sequences import IntArray

__all__ = [
    "RouteResult",
    "fit_all",
    "grammar_for",
    "input_names",
    "read_fn",
    "rollout_fn",
    "step_fn",
]


@dataclass
class RouteResult:
    """A program spec from one route, or why there is none."""

    route: str
    spec: ProgramSpec | None = None
    backends: list[str] = field(default_factory=list)
    """Backend (``linear``, ``boolean``, ``enumerate``, ``table``) of each update and output."""
    reason: str = ""
    seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        """``route:REGRESSOR``, e.g. ``lattice:LR``; the hardest regressor used names it."""
        rank = {
            "linear": (0, "LR"),
            "boolean": (1, "BR"),
            "enumerate": (2, "SR"),
            "table": (3, "table"),
        }
        used = [rank[b] for b in self.backends if b in rank] or [(0, "LR")]
        return f"{self.route}:{max(used)[1]}"


def input_names(d_in: int) -> tuple[str, ...]:
    """``("x",)``, ``("a", "b")``, or ``("x0", "x1", …)``."""
    if d_in == 1:
        return ("x",)
    if d_in == 2:
        return ("a", "b")
    return tuple(f"x{i}" for i in range(d_in))


def step_fn(model: GeneralRNN) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    @torch.no_grad()
    def step(hidden: np.ndarray, x: np.ndarray) -> np.ndarray:
        h = torch.as_tensor(hidden, dtype=torch.float32)
        return model.step(h, torch.as_tensor(x, dtype=torch.float32)).double().numpy()

    return step


def read_fn(model: GeneralRNN) -> Callable[[np.ndarray], np.ndarray]:
    @torch.no_grad()
    def read(hidden: np.ndarray) -> np.ndarray:
        out = model.readout(torch.as_tensor(hidden, dtype=torch.float32))
        return torch.round(out).to(torch.int64).numpy()

    return read


def rollout_fn(model: GeneralRNN) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    @torch.no_grad()
    def rollout(hidden: np.ndarray, probes: np.ndarray) -> np.ndarray:
        n_probes, horizon, d_in = probes.shape
        chunk = max(1, 200_000 // max(n_probes, 1))
        seqs = torch.as_tensor(probes, dtype=torch.float32)
        out = []
        for start in range(0, len(hidden), chunk):
            h = torch.as_tensor(hidden[start : start + chunk], dtype=torch.float32)
            b = len(h)
            state = h[:, None, :].expand(b, n_probes, h.shape[1]).reshape(b * n_probes, -1)
            x = seqs[None].expand(b, n_probes, horizon, d_in).reshape(b * n_probes, horizon, d_in)
            ys = []
            for t in range(horizon):
                state = model.step(state, x[:, t])
                ys.append(torch.round(model.readout(state)))
            out.append(torch.stack(ys, dim=1).reshape(b, n_probes, horizon, -1).to(torch.int64))
        return torch.cat(out).numpy()

    return rollout


def fit_all(
    table: np.ndarray,
    targets: np.ndarray,
    grammar: Grammar,
    deadline: float,
    *,
    per_target_s: float,
) -> list[Fit | None]:
    fits: list[Fit | None] = []
    for j in range(targets.shape[1]):
        budget = max(0.05, min(per_target_s, deadline - time.monotonic()))
        fits.append(fit_expression(table, targets[:, j], grammar=grammar, time_budget_s=budget))
    return fits


def grammar_for(inputs: IntArray, extra: tuple[int, ...] = ()) -> Grammar:
    top = int(inputs.max())
    constants = sorted({0, 1, 2, 3, top, top + 1, *extra} - {-1})
    return Grammar(constants=tuple(c for c in constants if abs(c) <= 1000)[:9])
