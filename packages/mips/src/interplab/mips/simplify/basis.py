"""Function-preserving rewrites of the hidden space: change of basis, whitening, de-biasing.

A change of basis ``h → M h`` folds ``M`` into the write layer (``f``'s last layer) and
``M⁻¹`` into the read weights (the hidden columns of ``f``'s first layer and ``g``'s first
layer), so the network computes the same function up to float rounding.

Shapes: ``n`` hidden units, ``d_in`` integers per input position.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..rnn import GeneralRNN

__all__ = ["change_basis", "debias", "integrality", "recurrence", "whiten"]


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


def recurrence(model: GeneralRNN) -> tuple[np.ndarray, np.ndarray]:
    """``W`` (n, n) and ``U`` (n, d_in) of ``h_t = W h_{t-1} + U x_t + b`` (depth-1 ``f``).

    For a deeper ``f`` these are the hidden and input columns of its first layer.
    """
    n = model.architecture.hidden_dim
    weight = _layers(model)[0].weight.detach().double().numpy()
    return weight[:, :n], weight[:, n:]


def integrality(model: GeneralRNN) -> float:
    """Total distance of the recurrence's weights ``W``, ``U`` to the nearest integers.

    Lower is simpler; 0 means every recurrence weight is an integer.
    """
    w, u = recurrence(model)
    weights = np.concatenate([w.reshape(-1), u.reshape(-1)])
    return float(np.abs(weights - np.round(weights)).sum())


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
