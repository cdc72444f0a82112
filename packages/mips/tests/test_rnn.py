"""The RNN: architecture rules, the recurrence it computes, and training to exactness."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from interplab.core.errors import ConfigError
from interplab.mips.rnn import (
    Adam,
    GeneralRNN,
    RNNArchitecture,
    TrainConfig,
    hidden_states,
    predict,
    rnn_accuracy,
    train_rnn,
)


def test_architecture_rejects_widthless_deep_mlps() -> None:
    with pytest.raises(ConfigError, match=r"hidden_width=0 with hidden_depth=2"):
        RNNArchitecture(1, 2, 3)
    with pytest.raises(ConfigError, match=r"hidden_dim=0 is not allowed"):
        RNNArchitecture(1, 1, 0)
    assert RNNArchitecture(1, 1, 2).is_linear
    assert RNNArchitecture(1, 2, 2, 16).describe() == "n=2 f=2x16 g=linear"
    assert RNNArchitecture(1, 1, 3) < RNNArchitecture(1, 2, 1, 8) < RNNArchitecture(2, 1, 1, 0, 8)


def test_depth_one_is_the_linear_recurrence() -> None:
    model = GeneralRNN(RNNArchitecture(1, 1, 2), d_in=1, d_out=1, seed=3)
    (w_all,), (b,) = (
        [model.f[0].weight.detach().double().numpy()],
        [model.f[0].bias.detach().double().numpy()],
    )
    c, d = model.g[0].weight.detach().double().numpy(), model.g[0].bias.detach().double().numpy()
    x = np.array([[[2], [-1], [5]]], dtype=np.int64)
    h = np.zeros(2)
    expected = []
    for t in range(3):
        h = w_all[:, :2] @ h + w_all[:, 2:] @ x[0, t] + b
        expected.append(c @ h + d)
    assert np.allclose(hidden_states(model, x)[0, -1], h, atol=1e-5)
    got = model(torch.from_numpy(x).float())[0].detach().numpy()[0]
    assert np.allclose(got, np.array(expected), atol=1e-4)


def test_initialisation_is_determined_by_the_seed() -> None:
    arch = RNNArchitecture(1, 2, 2, 8)
    a, b, c = (GeneralRNN(arch, 1, 1, seed=s) for s in (0, 0, 1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(), strict=True))


def test_training_reaches_exactness_and_stops_early(task_data: Callable) -> None:
    train, val = task_data("Bitwise_Not", 1000)
    result = train_rnn(
        RNNArchitecture(1, 1, 1), train, val, seed=0, config=TrainConfig(max_steps=3000)
    )
    assert result.is_perfect and result.accuracy == 1.0
    assert result.steps < 3000
    assert np.array_equal(predict(result.model, val[0]), val[1])
    assert rnn_accuracy(result.model, *val) == 1.0


def test_a_too_small_network_is_reported_as_imperfect(task_data: Callable) -> None:
    train, val = task_data("Prev1", 600)
    result = train_rnn(
        RNNArchitecture(1, 1, 1), train, val, seed=0, config=TrainConfig(max_steps=150)
    )
    assert not result.is_perfect and 0.0 <= result.accuracy < 1.0


def test_a_plateau_short_of_exactness_abandons_the_run(task_data: Callable) -> None:
    train, val = task_data("Prev1", 600)
    config = TrainConfig(max_steps=5000, patience=100, eval_every=25)
    result = train_rnn(RNNArchitecture(1, 1, 1), train, val, seed=0, config=config)
    assert not result.is_perfect and result.steps < 1500
    config = TrainConfig(max_steps=5000, patience=5000, warm_steps=100, warm_accuracy=0.99)
    result = train_rnn(RNNArchitecture(1, 1, 1), train, val, seed=0, config=config)
    assert not result.is_perfect and result.steps == 100


def test_a_nearly_exact_plateau_is_polished_with_smaller_steps(task_data: Callable) -> None:
    train, val = task_data("Prev1", 600)
    arch = RNNArchitecture(1, 1, 1)

    def run(drops: int) -> int:
        config = TrainConfig(
            max_steps=5000, patience=100, eval_every=25, lr_drops=drops, polish_above=0.0,
            warm_accuracy=0.0,
        )  # fmt: skip
        return train_rnn(arch, train, val, seed=0, config=config).steps

    assert run(2) >= run(0) + 2 * 100


def test_adam_first_step_moves_each_weight_by_the_learning_rate() -> None:
    weights = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    frozen = torch.tensor([3.0], requires_grad=True)
    optimizer = Adam([weights, frozen], lr=0.1)
    (weights * torch.tensor([2.0, -0.5, 0.0])).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert torch.allclose(weights.detach(), torch.tensor([0.9, -1.9, 0.5]), atol=1e-6)
    assert frozen.item() == 3.0 and optimizer.steps == 1
    optimizer.zero_grad()
    assert weights.grad is None
