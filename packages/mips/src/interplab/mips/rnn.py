"""The MIPS recurrent network and its trainer (Michaud et al. 2024; ``mips.md`` §4–§5).

``h_{-1} = 0``, ``h_t = f([h_{t-1}; x_t])``, ``y_t = g(h_t)``. ``f`` and ``g`` are MLPs of
``depth`` Linear layers with ReLU between them and no activation after the last, so depth 1 is
affine: ``h_t = W h_{t-1} + U x_t + b`` and ``y_t = C h_t + c`` (a linear RNN). Inputs are the raw
integers cast to float32 (no one-hot, no embedding); outputs are real regressions, rounded to
predict. Training: Adam(W) on the paper's loss ``½ ln(1 + (ŷ - y)²)`` (or MSE), stopping as soon as
the validation accuracy (fraction of output entries with ``round(ŷ) == y``) reaches 1, and
abandoning a run whose accuracy plateaus (a nearly exact one first gets a smaller learning rate),
so that a search does not spend a whole step budget on a network too small for the task.

Shapes: ``N`` sequences, ``L`` positions, ``d_in`` / ``d_out`` integers per position, ``n``
hidden units.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from interplab.core.errors import ConfigError

from .sequences import IntArray, check_pair

__all__ = [
    "Adam",
    "GeneralRNN",
    "RNNArchitecture",
    "TrainConfig",
    "TrainResult",
    "hidden_states",
    "paper_loss",
    "predict",
    "rnn_accuracy",
    "train_rnn",
]


@dataclass(frozen=True, order=True)
class RNNArchitecture:
    """Size of a :class:`GeneralRNN`; ordered as the paper's search is (depths, then ``n``)."""

    output_depth: int
    """Linear layers in ``g`` (1 = affine readout)."""
    hidden_depth: int
    """Linear layers in ``f`` (1 = linear recurrence)."""
    hidden_dim: int
    """``n``, the size of the recurrent state."""
    hidden_width: int = 0
    """Width of ``f``'s inner layers; ignored (0) at depth 1."""
    output_width: int = 0
    """Width of ``g``'s inner layers; ignored (0) at depth 1."""

    def __post_init__(self) -> None:
        for name in ("output_depth", "hidden_depth", "hidden_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} is not allowed; use >= 1.")
        for depth, width in (("hidden_depth", "hidden_width"), ("output_depth", "output_width")):
            if getattr(self, depth) > 1 and getattr(self, width) < 1:
                raise ConfigError(
                    f"{width}={getattr(self, width)} with {depth}={getattr(self, depth)}; "
                    f"an MLP deeper than 1 needs {width} >= 1."
                )

    @property
    def is_linear(self) -> bool:
        """True if both ``f`` and ``g`` are affine (a linear RNN)."""
        return self.hidden_depth == 1 and self.output_depth == 1

    def describe(self) -> str:
        """Short label, e.g. ``n=2 f=linear g=linear`` or ``n=1 f=2x16 g=linear``."""

        def part(depth: int, width: int) -> str:
            return "linear" if depth == 1 else f"{depth}x{width}"

        return (
            f"n={self.hidden_dim} f={part(self.hidden_depth, self.hidden_width)} "
            f"g={part(self.output_depth, self.output_width)}"
        )


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


class GeneralRNN(nn.Module):
    """``h_t = f([h_{t-1}; x_t])``, ``y_t = g(h_t)`` with MLPs ``f`` and ``g`` (``mips.md`` §4).

    Arguments:
        architecture: depths, hidden size and widths.
        d_in: integers per input position.
        d_out: integers per output position.
        seed: seed of the parameter initialisation (PyTorch's default uniform law).
    """

    def __init__(self, architecture: RNNArchitecture, d_in: int, d_out: int, *, seed: int) -> None:
        super().__init__()
        arch = architecture
        self.architecture = arch
        self.d_in = d_in
        self.d_out = d_out
        n = arch.hidden_dim
        self.f = _mlp([n + d_in, *[arch.hidden_width] * (arch.hidden_depth - 1), n])
        self.g = _mlp([n, *[arch.output_width] * (arch.output_depth - 1), d_out])
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in self.linear_layers():
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def linear_layers(self) -> list[nn.Linear]:
        """All Linear layers, ``f``'s first then ``g``'s."""
        return [m for m in (*self.f, *self.g) if isinstance(m, nn.Linear)]

    def step(self, hidden: Tensor, x: Tensor) -> Tensor:
        """One recurrence step: float ``(B, n)`` and ``(B, d_in)`` to the next ``(B, n)``."""
        out: Tensor = self.f(torch.cat([hidden, x], dim=-1))
        return out

    def readout(self, hidden: Tensor) -> Tensor:
        """``g``: float ``(..., n)`` to ``(..., d_out)``."""
        out: Tensor = self.g(hidden)
        return out

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run on float ``(B, L, d_in)``; return ``(ŷ (B, L, d_out), hidden (B, L, n))``."""
        hidden = x.new_zeros(x.shape[0], self.architecture.hidden_dim)
        states = []
        for t in range(x.shape[1]):
            hidden = self.step(hidden, x[:, t])
            states.append(hidden)
        stacked = torch.stack(states, dim=1)
        return self.readout(stacked), stacked


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_rnn` trains (the paper: AdamW 1e-3, batch 4096, 10–20k steps)."""

    max_steps: int = 2500
    """Optimizer steps at most; training stops earlier at 100 % validation accuracy."""
    batch_size: int = 256
    """Sequences per step, drawn without replacement, reshuffled every epoch."""
    lr: float | None = None
    """AdamW learning rate (weight decay 0); ``None`` picks 1e-2 when every input and output
    lies in [-20, 20] and 3e-3 otherwise (large raw integers need smaller steps)."""
    loss: Literal["log", "mse"] = "log"
    """``log`` is the paper's ``½ ln(1 + (ŷ - y)²)``; ``mse`` the plain squared error."""
    eval_every: int = 50
    """Steps between validation checks."""
    max_eval_sequences: int = 4096
    """Validation sequences checked during training (all are checked at the end)."""
    patience: int = 300
    """A plateau is this many steps without a 0.002 gain in validation accuracy (any gain once
    above 99 %). On a plateau a nearly exact run (see ``polish_above``) goes back to its best
    state and divides its learning rate by 5, at most ``lr_drops`` times; any other run stops."""
    lr_drops: int = 2
    """Learning-rate cuts allowed to polish a nearly exact network into an exact one."""
    polish_above: float = 0.97
    """Validation accuracy from which a plateau cuts the learning rate instead of stopping."""
    warm_steps: int = 500
    """Steps after which a run still below ``warm_accuracy`` is abandoned as hopeless (runs
    that end exact are almost always 90 % accurate by then; slow creepers never get there)."""
    warm_accuracy: float = 0.9
    """Validation accuracy a run must have reached by ``warm_steps`` (0 disables the check)."""


@dataclass
class TrainResult:
    """A trained network and how it got there."""

    model: GeneralRNN
    """The network at its best validation accuracy (the first perfect one, if any)."""
    seed: int
    accuracy: float
    """Accuracy on the whole validation set."""
    steps: int
    """Optimizer steps taken."""
    seconds: float

    @property
    def is_perfect(self) -> bool:
        """True if every validation output is predicted exactly."""
        return self.accuracy == 1.0


class Adam:
    """Adam (= AdamW with weight decay 0, as in the paper) on a list of tensors.

    ``torch.optim``'s first use imports ``torch._dynamo``, which takes 15-20 s of a task's
    budget when Python may not cache bytecode (``PYTHONDONTWRITEBYTECODE``); this is the same
    update with ``torch._foreach_*`` ops. Gradients that are ``None`` count as zero.

    Arguments:
        params: the tensors to train (``requires_grad``).
        lr: learning rate (may be changed between steps through :attr:`lr`).
        betas: decay rates of the first and second moment estimates.
        eps: added to the root of the second moment.
    """

    def __init__(
        self,
        params: list[Tensor],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params, self.lr, self.betas, self.eps, self.steps = params, lr, betas, eps, 0
        self.first = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        """Drop every gradient."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update from the current gradients."""
        self.steps += 1
        beta1, beta2 = self.betas
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
        torch._foreach_lerp_(self.first, grads, 1 - beta1)
        torch._foreach_mul_(self.second, beta2)
        torch._foreach_addcmul_(self.second, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(self.second)
        torch._foreach_div_(denom, math.sqrt(1 - beta2**self.steps))
        torch._foreach_add_(denom, self.eps)
        step_size = self.lr / (1 - beta1**self.steps)
        torch._foreach_addcdiv_(self.params, self.first, denom, value=-step_size)


def paper_loss(pred: Tensor, target: Tensor) -> Tensor:
    """The paper's loss ``½ ln(1 + (ŷ - y)²)``, averaged over every entry."""
    return 0.5 * torch.log1p((pred - target) ** 2).mean()


def _loss(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    return ((pred - target) ** 2).mean() if kind == "mse" else paper_loss(pred, target)


@torch.no_grad()
def predict(model: GeneralRNN, inputs: IntArray, *, batch_size: int = 65_536) -> IntArray:
    """Rounded predictions of ``model``.

    Args:
        model: a trained network.
        inputs: int64 ``(N, L, d_in)``.
        batch_size: sequences per forward pass.

    Returns:
        int64 ``(N, L, d_out)``, ``round(ŷ)``.
    """
    out = []
    for start in range(0, len(inputs), batch_size):
        x = torch.from_numpy(inputs[start : start + batch_size]).float()
        out.append(torch.round(model(x)[0]).to(torch.int64).numpy())
    return np.concatenate(out) if out else np.zeros((0, *inputs.shape[1:2], model.d_out), np.int64)


def rnn_accuracy(model: GeneralRNN, inputs: IntArray, outputs: IntArray) -> float:
    """Fraction of output entries with ``round(ŷ) == y``.

    Args:
        model: the network.
        inputs: int64 ``(N, L, d_in)``.
        outputs: int64 ``(N, L, d_out)``.

    Returns:
        Accuracy in [0, 1].
    """
    return float((predict(model, inputs) == outputs).mean())


@torch.no_grad()
def hidden_states(model: GeneralRNN, inputs: IntArray, *, batch_size: int = 65_536) -> np.ndarray:
    """Hidden states of ``model`` on ``inputs``.

    Args:
        model: the network.
        inputs: int64 ``(N, L, d_in)``.
        batch_size: sequences per forward pass.

    Returns:
        float64 ``(N, L, n)``: ``h_0 … h_{L-1}`` (``h_{-1} = 0`` is not included).
    """
    out = []
    for start in range(0, len(inputs), batch_size):
        x = torch.from_numpy(inputs[start : start + batch_size]).float()
        out.append(model(x)[1].double().numpy())
    return np.concatenate(out)


def train_rnn(
    architecture: RNNArchitecture,
    train: tuple[IntArray, IntArray],
    val: tuple[IntArray, IntArray],
    *,
    seed: int,
    config: TrainConfig | None = None,
    deadline: float | None = None,
    initial: GeneralRNN | None = None,
) -> TrainResult:
    """Train a :class:`GeneralRNN` until it predicts every validation output exactly.

    Args:
        architecture: the network's size.
        train: int64 ``(N, L, d_in)`` inputs and ``(N, L, d_out)`` outputs to fit.
        val: held-out pair of the same layout; accuracy is measured on it.
        seed: seed of the initialisation and of the batch order.
        config: optimizer settings; ``None`` means :class:`TrainConfig` defaults.
        deadline: ``time.monotonic()`` value after which training stops early.
        initial: start from a copy of this network (of ``architecture``) instead of a random
            initialisation.

    Returns:
        The first network with validation accuracy 1, or else the most accurate one seen.
    """
    config = config or TrainConfig()
    check_pair(*train)
    check_pair(*val)
    started = time.monotonic()
    x_train = torch.from_numpy(train[0]).float()
    y_train = torch.from_numpy(train[1]).float()
    x_val, y_val = val[0][: config.max_eval_sequences], val[1][: config.max_eval_sequences]
    model = GeneralRNN(architecture, train[0].shape[2], train[1].shape[2], seed=seed)
    if initial is not None:
        model.load_state_dict(initial.state_dict())
        if rnn_accuracy(model, *val) == 1.0:
            return TrainResult(model, seed, 1.0, 0, time.monotonic() - started)
    lr = config.lr
    if lr is None:
        is_small = max(np.abs(train[0]).max(), np.abs(train[1]).max()) <= 20
        lr = 1e-2 if is_small else 3e-3
    optimizer = Adam(list(model.parameters()), lr=lr)
    generator = torch.Generator().manual_seed(seed + 1)
    n = len(x_train)
    batch = min(config.batch_size, n)
    order = torch.randperm(n, generator=generator)
    cursor = 0
    best_accuracy, best_state, steps, best_step, drops = -1.0, None, 0, 0, 0
    for steps in range(1, config.max_steps + 1):
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        index = order[cursor : cursor + batch]
        cursor += batch
        pred, _ = model(x_train[index])
        loss = _loss(pred, y_train[index], config.loss)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if steps % config.eval_every and steps != config.max_steps:
            continue
        accuracy = rnn_accuracy(model, x_val, y_val)
        if accuracy >= best_accuracy + 0.002 or (accuracy > best_accuracy and accuracy >= 0.99):
            best_step = steps
        if accuracy > best_accuracy:
            best_accuracy = accuracy
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if accuracy == 1.0 and rnn_accuracy(model, *val) == 1.0:
            break
        if not math.isfinite(loss.item()):
            break
        if deadline is not None and time.monotonic() > deadline:
            break
        if steps >= config.warm_steps and best_accuracy < config.warm_accuracy:
            break
        if steps - best_step >= config.patience:
            if drops >= config.lr_drops or best_accuracy < config.polish_above:
                break  # a plateau short of exactness: abandon the run
            assert best_state is not None
            model.load_state_dict(best_state)
            optimizer.lr /= 5
            drops, best_step = drops + 1, steps
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(
        model=model,
        seed=seed,
        accuracy=rnn_accuracy(model, *val),
        steps=steps,
        seconds=time.monotonic() - started,
    )
