"""Function-preserving simplification of a trained RNN ("normalizers", ``mips.md`` §7).

The chain is whiten → Jordan form → de-bias → quantize. Every step but quantize is a change of
basis of the hidden space, ``h → M h``: ``M`` is folded into the write layer (``f``'s last
layer) and ``M⁻¹`` into the read weights (the hidden columns of ``f``'s first layer and ``g``'s
first layer), so the network computes the same function up to float rounding. Each step is
checked: if the rounded outputs change on the check data, the step is undone and the reason
recorded.

- **whiten**: ``C = E[h hᵀ]`` over the observed hidden states (not mean-centred), ``M = C^{-1/2}``
  on the directions with non-negligible variance.
- **jordan**: for a linear recurrence ``W`` (``f`` of depth 1): a real diagonalisation (complex
  pairs as 2×2 rotation-scaling blocks) with each mode scaled so the input writes 1 into it; or,
  when all eigenvalues are within 0.7 of each other (shifts, integrators), the Jordan chain
  ``(W - λI)^k u`` of the input vector ``u``, which makes ``W ≈ λI + N`` with ``N`` the shift;
  or the companion (Krylov) form ``u, W u, W² u, …``, whose last column holds the characteristic
  polynomial (integers for integer recurrences, complex eigenvalues included). Whichever leaves
  ``W`` and ``U`` closest to integers is kept.
- **debias**: drop the part of the write bias that no read weight sees (null space of the read
  matrix).
- **quantize**: snap every weight within ``tol`` of an integer to that integer, with the largest
  of ``tol`` = 0.2, 0.1, 0.02 that keeps the network exact. When snapping alone changes the
  outputs of a linear recurrence and training data is given, the snapped weights are frozen and
  the others retrained briefly (the paper's "retraining with zeros frozen", §7, extended to
  every snapped integer): a running sum with ``w = 0.9996`` and a compensating bias becomes
  ``w = 1`` with the bias trained away.

Shapes: ``n`` hidden units, ``d_in`` / ``d_out`` integers per position.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .rnn import Adam, GeneralRNN, hidden_states, predict
from .sequences import IntArray

__all__ = [
    "SimplifyStep",
    "change_basis",
    "companion_basis",
    "debias",
    "integer_basis",
    "jordan_basis",
    "quantize",
    "quantize_and_retrain",
    "simplify_rnn",
    "whiten",
]


@dataclass(frozen=True)
class SimplifyStep:
    """What one simplifier did."""

    name: str
    is_applied: bool
    reason: str
    """Why it was skipped or undone, or a short note on what it did."""


def _layers(model: GeneralRNN) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
    """``f``'s first (read) and last (write) layers and ``g``'s first (read) layer."""
    f_layers = [m for m in model.f if isinstance(m, nn.Linear)]
    g_layers = [m for m in model.g if isinstance(m, nn.Linear)]
    return f_layers[0], f_layers[-1], g_layers[0]


def change_basis(model: GeneralRNN, matrix: np.ndarray) -> GeneralRNN:
    """The same network with hidden states ``M h`` instead of ``h``.

    Args:
        model: the network (not modified).
        matrix: float ``(n, n)`` invertible ``M``.

    Returns:
        A copy computing the same outputs, whose hidden states are ``M`` times the original's.
    """
    n = model.architecture.hidden_dim
    m = torch.as_tensor(matrix, dtype=torch.float64)
    m_inv = torch.linalg.inv(m)
    out = copy.deepcopy(model)
    f_read, f_write, g_read = _layers(out)
    with torch.no_grad():
        # Read first: for depth-1 f the read and write layer are the same module.
        read = f_read.weight.double()
        read[:, :n] = read[:, :n] @ m_inv
        f_read.weight.copy_(read.float())
        g_read.weight.copy_((g_read.weight.double() @ m_inv).float())
        f_write.weight.copy_((m @ f_write.weight.double()).float())
        f_write.bias.copy_((m @ f_write.bias.double()).float())
    return out


def whiten(model: GeneralRNN, hidden: np.ndarray, *, eps: float = 1e-6) -> GeneralRNN:
    """Change basis so the observed states have identity second moment.

    Args:
        model: the network.
        hidden: float ``(M, n)`` hidden states seen on data.
        eps: eigenvalues of ``E[h hᵀ]`` at or below ``eps × max`` are left unscaled.

    Returns:
        The whitened copy.
    """
    second = hidden.T @ hidden / max(len(hidden), 1)
    values, vectors = np.linalg.eigh(second)
    scale = np.where(values > eps * max(values.max(), 1e-12), values, 1.0) ** -0.5
    return change_basis(model, vectors @ np.diag(scale) @ vectors.T)


def _recurrence(model: GeneralRNN) -> tuple[np.ndarray, np.ndarray]:
    """``W`` (n, n) and ``U`` (n, d_in) of a depth-1 ``f``."""
    n = model.architecture.hidden_dim
    weight = _layers(model)[0].weight.detach().double().numpy()
    return weight[:, :n], weight[:, n:]


def jordan_basis(model: GeneralRNN, *, eig_tol: float = 0.7, max_cond: float = 1e6) -> np.ndarray:
    """``M`` that puts a linear recurrence into real Jordan (or diagonal) form.

    Eigenvalues closer than ``eig_tol`` count as one (the reference merges within 0.7). One
    cluster: the Jordan chain ``(W - λI)^k u`` of the main input vector ``u``, so that
    ``W ≈ λI + N`` with ``N`` the shift. All distinct: a real diagonalisation, complex pairs as
    rotation-scaling blocks, each mode scaled so the input writes 1 into it.

    Args:
        model: a network whose ``f`` has depth 1.
        eig_tol: eigenvalues closer than this count as one (repeated) eigenvalue.
        max_cond: refuse bases whose condition number exceeds this.

    Returns:
        float ``(n, n)`` ``M`` for :func:`change_basis`.

    Raises:
        ValueError: ``f`` is not linear, or no well-conditioned basis was found; the message
            says which.
    """
    if model.architecture.hidden_depth != 1:
        raise ValueError("the recurrence is not linear (f has depth > 1)")
    w, u = _recurrence(model)
    n = len(w)
    values, vectors = np.linalg.eig(w)
    u_main = u[:, int(np.argmax(np.linalg.norm(u, axis=0)))] if u.size else np.ones(n)
    gaps = np.abs(values[:, None] - values[None, :]) + np.eye(n) * 1e9
    if n > 1 and np.abs(values - values.mean()).max() < eig_tol:
        lam = (
            float(np.round(values.real.mean()))
            if abs(values.real.mean() - np.round(values.real.mean())) < eig_tol / 2
            else float(values.real.mean())
        )
        shifted = w - lam * np.eye(n)
        chain = [u_main]
        for _ in range(n - 1):
            chain.append(shifted @ chain[-1])
        basis = np.stack(chain[::-1], axis=1)
        if np.linalg.cond(basis) > max_cond:
            raise ValueError("the input's Jordan chain does not span the hidden space")
        return np.linalg.inv(basis)
    if n == 1 or gaps.min() > 1e-6:
        columns: list[np.ndarray] = []
        done: set[int] = set()
        for i in np.argsort(-values.real, kind="stable"):
            if i in done:
                continue
            vec = vectors[:, i]
            if abs(values[i].imag) < 1e-9:
                columns.append(vec.real / np.linalg.norm(vec.real))
                done.add(int(i))
            else:
                pair = int(np.argmin(np.abs(values - values[i].conjugate())))
                done.update({int(i), pair})
                columns += [vec.real, vec.imag]
        basis = np.stack(columns, axis=1)
        if np.linalg.cond(basis) > max_cond:
            raise ValueError("eigenvectors are ill-conditioned")
        coords = np.linalg.solve(basis, u_main)
        scale = np.where(np.abs(coords) > 1e-6, coords, 1.0)
        basis = basis * scale[None, :]
        return np.linalg.inv(basis)
    raise ValueError("eigenvalues are partly repeated (mixed Jordan structure is not handled)")


def companion_basis(model: GeneralRNN, *, max_cond: float = 1e8) -> np.ndarray:
    """``M`` that puts a linear recurrence into (block) companion form: the Krylov basis.

    Basis vectors are ``u_j, W u_j, W² u_j, …`` for the input columns ``u_j``, taken greedily
    while independent. In it every input writes a unit vector and ``W`` shifts one basis vector
    to the next, with the characteristic polynomial's coefficients in the last column: integers
    whenever the task's recurrence is an integer one, even with complex eigenvalues (a spring).

    Args:
        model: a network whose ``f`` has depth 1.
        max_cond: refuse bases whose condition number exceeds this.

    Returns:
        float ``(n, n)`` ``M`` for :func:`change_basis`.

    Raises:
        ValueError: ``f`` is not linear or the inputs do not reach every hidden direction.
    """
    if model.architecture.hidden_depth != 1:
        raise ValueError("the recurrence is not linear (f has depth > 1)")
    w, u = _recurrence(model)
    n = len(w)
    chosen: list[np.ndarray] = []
    block = u
    for _ in range(n):
        for vector in block.T:
            if len(chosen) == n or np.linalg.norm(vector) < 1e-9:
                continue
            candidate = np.stack([*chosen, vector], axis=1)
            if np.linalg.cond(candidate) < max_cond:
                chosen.append(vector)
        block = w @ block
    if len(chosen) < n:
        raise ValueError("the inputs do not reach every hidden direction (not controllable)")
    return np.linalg.inv(np.stack(chosen, axis=1))


def _integrality(model: GeneralRNN) -> float:
    """Total distance of the recurrence's weights to the nearest integers (lower is simpler)."""
    w, u = _recurrence(model)
    weights = np.concatenate([w.reshape(-1), u.reshape(-1)])
    return float(np.abs(weights - np.round(weights)).sum())


def integer_basis(model: GeneralRNN) -> tuple[np.ndarray, str]:
    """The Jordan or the companion basis, whichever leaves the recurrence closer to integers.

    Args:
        model: a network whose ``f`` has depth 1.

    Returns:
        ``(M, form)`` with ``form`` ``"jordan"`` or ``"companion"``.

    Raises:
        ValueError: neither basis exists.
    """
    options: list[tuple[float, np.ndarray, str]] = []
    errors = []
    for form, make in (("jordan", jordan_basis), ("companion", companion_basis)):
        try:
            matrix = make(model)
        except (ValueError, np.linalg.LinAlgError) as error:
            errors.append(f"{form}: {error}")
            continue
        options.append((_integrality(change_basis(model, matrix)), matrix, form))
    if not options:
        raise ValueError("; ".join(errors))
    _, matrix, form = min(options, key=lambda o: o[0])
    return matrix, form


def debias(model: GeneralRNN, *, tol: float = 1e-3) -> GeneralRNN:
    """Remove the write bias's component that no read weight sees.

    Args:
        model: the network.
        tol: singular values of the read matrix at or below ``tol × max`` span its null space.

    Returns:
        The de-biased copy (an exact copy when the null space is empty).
    """
    n = model.architecture.hidden_dim
    out = copy.deepcopy(model)
    f_read, f_write, g_read = _layers(out)
    read = np.concatenate(
        [f_read.weight.detach().double().numpy()[:, :n], g_read.weight.detach().double().numpy()]
    )
    _, singular, vt = np.linalg.svd(read)
    singular = np.concatenate([singular, np.zeros(n - len(singular))])
    null = vt[singular <= tol * max(singular.max(), 1e-12)]
    if len(null):
        bias = f_write.bias.detach().double().numpy()
        component = null.T @ (null @ bias)
        with torch.no_grad():
            f_write.bias.copy_(torch.as_tensor(bias - component, dtype=torch.float32))
            g_bias = g_read.bias.detach().double().numpy()
            g_weight = g_read.weight.detach().double().numpy()
            g_read.bias.copy_(torch.as_tensor(g_bias + g_weight @ component, dtype=torch.float32))
    return out


def quantize(model: GeneralRNN, *, tol: float = 0.01) -> GeneralRNN:
    """Snap every weight and bias within ``tol`` of an integer to that integer.

    Args:
        model: the network.
        tol: largest distance to an integer that is snapped.

    Returns:
        The quantized copy.
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in out.parameters():
            nearest = torch.round(parameter)
            parameter.copy_(torch.where((parameter - nearest).abs() <= tol, nearest, parameter))
    return out


def quantize_and_retrain(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray,
    *,
    tol: float = 0.02,
    max_steps: int = 600,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> GeneralRNN:
    """Snap near-integer weights, freeze them, and retrain the rest until outputs are exact.

    Args:
        model: the network (not modified).
        inputs: int64 ``(N, L, d_in)`` training data.
        outputs: int64 ``(N, L, d_out)``.
        tol: largest distance to an integer that is snapped.
        max_steps: AdamW steps at most (stops at the first exact check on all of ``inputs``).
        lr: learning rate.
        batch_size: sequences per step.
        seed: seed of the batch order.

    Returns:
        The snapped, retrained copy (check it: it may still be inexact).
    """
    out = quantize(model, tol=tol)
    params = list(out.parameters())
    masks = [(p - torch.round(p)).abs() > 0 for p in params]  # True where free to train
    if not any(m.any() for m in masks):
        return out
    x = torch.from_numpy(inputs).float()
    y = torch.from_numpy(outputs).float()
    optimizer = Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for step in range(1, max_steps + 1):
        index = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        pred, _ = out(x[index])
        loss = 0.5 * torch.log1p((pred - y[index]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for p, mask in zip(params, masks, strict=True):
                if p.grad is not None:
                    p.grad.mul_(mask)
        optimizer.step()
        if step % 50 == 0 and np.array_equal(predict(out, inputs), outputs):
            break
    return out


def _is_sane(model: GeneralRNN) -> bool:
    return all(
        bool(torch.isfinite(p.detach()).all()) and float(p.detach().abs().max()) < 1e4
        for p in model.parameters()
    )


def _quantize_step(
    model: GeneralRNN,
    inputs: IntArray,
    expected: IntArray,
    outputs: IntArray | None,
    *,
    seed: int,
    tolerances: Sequence[float] = (0.2, 0.1, 0.02),
) -> tuple[GeneralRNN, SimplifyStep]:
    """The most aggressive snapping (largest tolerance) that keeps the network exact."""
    for tol in tolerances:
        candidate = quantize(model, tol=tol)
        if _is_sane(candidate) and _preserves(candidate, inputs, expected):
            return candidate, SimplifyStep("quantize", True, f"applied (tol {tol})")
        if outputs is not None and model.architecture.hidden_depth == 1:
            repaired = quantize_and_retrain(model, inputs, outputs, tol=tol, seed=seed)
            if _is_sane(repaired) and _preserves(repaired, inputs, outputs):
                return repaired, SimplifyStep(
                    "quantize", True, f"applied (tol {tol}), then retrained unsnapped weights"
                )
    return model, SimplifyStep("quantize", False, "undone: snapping changed rounded outputs")


def _preserves(model: GeneralRNN, inputs: IntArray, expected: IntArray) -> bool:
    return bool(np.array_equal(predict(model, inputs), expected))


def simplify_rnn(
    model: GeneralRNN,
    inputs: IntArray,
    outputs: IntArray | None = None,
    *,
    steps: Sequence[str] = ("whiten", "jordan", "debias", "quantize"),
    seed: int = 0,
) -> tuple[GeneralRNN, list[SimplifyStep]]:
    """Apply the normalizer chain, keeping only steps that leave every rounded output unchanged.

    Args:
        model: a trained network (not modified).
        inputs: int64 ``(N, L, d_in)`` check data; the rounded outputs of ``model`` on it must
            not change (a few thousand sequences are plenty).
        outputs: int64 ``(N, L, d_out)`` true outputs of ``inputs``; when given, a quantize
            step that breaks the network is repaired by retraining the unsnapped weights
            (:func:`quantize_and_retrain`), and accepted if the result is exact on them.
        steps: names among ``whiten``, ``jordan``, ``debias``, ``quantize``, in order.
        seed: seed of the retraining.

    Returns:
        The simplified network and one :class:`SimplifyStep` per requested step.

    Raises:
        ValueError: an unknown step name.
    """
    known: dict[str, Callable[[GeneralRNN], GeneralRNN]] = {
        "whiten": lambda m: whiten(m, hidden_states(m, inputs).reshape(-1, hidden_dim)),
        "jordan": lambda m: change_basis(m, integer_basis(m)[0]),
        "debias": debias,
        "quantize": quantize,
    }
    unknown = [s for s in steps if s not in known]
    if unknown:
        raise ValueError(f"unknown simplifier {unknown[0]!r}; use some of {sorted(known)}.")
    hidden_dim = model.architecture.hidden_dim
    expected = predict(model, inputs)
    report = []
    current = model
    for name in steps:
        if name == "quantize":
            current, step = _quantize_step(current, inputs, expected, outputs, seed=seed)
            report.append(step)
            continue
        try:
            candidate = known[name](current)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:
            report.append(SimplifyStep(name, False, f"not applicable: {error}"))
            continue
        if not _is_sane(candidate):
            report.append(SimplifyStep(name, False, "undone: weights became non-finite or huge"))
        elif not _preserves(candidate, inputs, expected):
            report.append(SimplifyStep(name, False, "undone: it changed rounded outputs"))
        else:
            note = "applied"
            if name == "jordan":
                note = f"applied ({integer_basis(current)[1]} form)"
            report.append(SimplifyStep(name, True, note))
            current = candidate
    return current, report
