"""L1 fine-tuning: the paper's ε choice, exactness kept, zeros frozen while retraining."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from interplab.mips.rnn import GeneralRNN, RNNArchitecture, predict, train_rnn
from interplab.mips.sequences import IntArray, as_sequences
from interplab.mips.simplify import (
    EpsilonRun,
    l1_finetune,
    prune_and_retrain,
    retrain_free,
    select_epsilon,
    simplify_rnn,
)
from interplab.mips.tasks import get_task

Data = tuple[IntArray, IntArray]


def abs_sum(model: GeneralRNN) -> float:
    return sum(float(np.abs(p.detach().numpy()).sum()) for p in model.parameters())


@pytest.fixture(scope="module")
def sum_last2() -> tuple[GeneralRNN, Data, Data]:
    """An exact linear RNN for Sum_Last2 (n = 2), its training data and held-out data."""
    torch.set_num_threads(1)
    train, test = get_task("Sum_Last2").splits(n=1500)
    x, y = as_sequences(train.inputs), as_sequences(train.outputs)
    xv, yv = as_sequences(test.inputs), as_sequences(test.outputs)
    result = train_rnn(RNNArchitecture(1, 1, 2), (x, y), (xv, yv), seed=0)
    assert result.is_perfect
    return result.model, (x[:500], y[:500]), (xv, yv)


# --- the choice of ε (pure) ------------------------------------------------------------------


def runs(accuracies: list[float], losses: list[float]) -> list[EpsilonRun]:
    grid = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0]
    return [
        EpsilonRun(e, a, loss, 1.0) for e, a, loss in zip(grid, accuracies, losses, strict=False)
    ]


def test_largest_exact_epsilon_is_kept_when_the_safer_one_is_not_better() -> None:
    table = runs([1, 1, 1, 1, 0.9], [0.5, 0.4, 0.3, 0.2, 0.1])
    assert select_epsilon(table) == table[3]  # 5e-4; 1e-4 (two steps down) has a higher loss


def test_two_steps_smaller_wins_when_its_loss_is_lower() -> None:
    table = runs([1, 1, 1, 1, 0.9], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert select_epsilon(table) == table[1]


def test_an_inexact_epsilon_between_exact_ones_does_not_stop_the_search() -> None:
    table = runs([1, 1, 0.99, 1, 1, 0.5], [0.1, 0.1, 0.1, 0.9, 0.8, 0.1])
    assert select_epsilon(table) == table[4]  # largest exact; the one two below is inexact


def test_safer_choice_clamps_at_the_smallest_epsilon_and_ignores_order() -> None:
    table = runs([1, 1, 0.0], [0.1, 0.3, 0.0])
    shuffled = table[:]
    random.Random(0).shuffle(shuffled)
    assert select_epsilon(shuffled) == table[0]  # best is 5e-5 (index 1): max(0, 1 - 2) = 0


def test_no_exact_epsilon_means_no_choice() -> None:
    assert select_epsilon(runs([0.99, 0.5], [0.1, 0.2])) is None
    assert select_epsilon([]) is None


# --- fine-tuning a trained network -----------------------------------------------------------


def test_l1_keeps_the_network_exact_and_shrinks_its_weights(
    sum_last2: tuple[GeneralRNN, Data, Data],
) -> None:
    model, (x, y), (xv, yv) = sum_last2
    before = copy.deepcopy(model.state_dict())
    epsilons = (1e-3, 1e-2, 0.1, 1.0, 10.0)
    tuned, result = l1_finetune(model, x, y, epsilons=epsilons, lr=1e-2, steps=200)
    assert [r.epsilon for r in result.runs] == list(epsilons)
    assert result.runs[-1].accuracy < 1.0  # ε = 10 wipes the weights out: never chosen
    assert result.epsilon is not None and result.epsilon < 10.0
    assert np.array_equal(predict(tuned, x), y)
    assert np.array_equal(predict(tuned, xv), yv)
    assert abs_sum(tuned) < abs_sum(model)
    assert result.l1_after == pytest.approx(abs_sum(tuned), rel=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # untouched


def test_l1_returns_the_original_when_no_epsilon_is_exact() -> None:
    model = GeneralRNN(RNNArchitecture(1, 1, 2), 1, 1, seed=3)  # untrained
    x = np.random.default_rng(0).integers(0, 10, size=(50, 6, 1)).astype(np.int64)
    tuned, result = l1_finetune(model, x, x.cumsum(axis=1), epsilons=(0.1,), steps=10)
    assert tuned is model and result.epsilon is None and len(result.runs) == 1


def test_l1_rejects_a_grid_that_is_not_increasing(sum_last2: tuple[GeneralRNN, Data, Data]) -> None:
    model, (x, y), _ = sum_last2
    with pytest.raises(ValueError, match=r"epsilons=\(0\.1, 0\.01\) is not a grid"):
        l1_finetune(model, x, y, epsilons=(0.1, 0.01))


def test_pruned_zeros_stay_frozen_while_the_rest_retrains(
    sum_last2: tuple[GeneralRNN, Data, Data],
) -> None:
    model, (x, y), _ = sum_last2
    magnitudes = np.sort(
        np.concatenate([p.detach().abs().numpy().ravel() for p in model.parameters()])
    )
    tol = float(magnitudes[3])  # zero the four smallest parameters
    by_hand = copy.deepcopy(model)
    with torch.no_grad():
        for p in by_hand.parameters():
            p[p.abs() <= tol] = 0.0
    assert not np.array_equal(predict(by_hand, x), y)  # pruning alone breaks it: retraining runs
    pruned = prune_and_retrain(model, x, y, tol=tol, max_steps=100)
    moved = False
    for p_hand, p_new in zip(by_hand.parameters(), pruned.parameters(), strict=True):
        zero = p_hand == 0
        assert torch.all(p_new[zero] == 0)
        moved |= bool((p_new[~zero] != p_hand[~zero]).any())
    assert moved
    assert int(sum(int((p == 0).sum()) for p in pruned.parameters())) >= 4


def test_retraining_masks_must_match_the_parameters(
    sum_last2: tuple[GeneralRNN, Data, Data],
) -> None:
    model, (x, y), _ = sum_last2
    with pytest.raises(ValueError, match="free has 1 masks for 4 parameters"):
        retrain_free(model, x, y, [torch.ones(3, dtype=torch.bool)])


def test_l1_step_of_the_chain(sum_last2: tuple[GeneralRNN, Data, Data]) -> None:
    model, (x, y), _ = sum_last2
    _, skipped = simplify_rnn(model, x, steps=("l1",))
    assert skipped[0].reason == "not applicable: needs the true outputs"
    simplified, steps = simplify_rnn(model, x[:200], y[:200], steps=("l1", "quantize"))
    assert steps[0].is_applied and steps[0].reason.startswith("applied (ε ")
    assert np.array_equal(predict(simplified, x), y)
