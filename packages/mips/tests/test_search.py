"""Architecture search: the linearity probe, the ladder, and stopping at the first exact size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from interplab.mips import search
from interplab.mips.rnn import RNNArchitecture, TrainConfig, rnn_accuracy
from interplab.mips.search import (
    default_ladder,
    probe_linearity,
    realize_linear,
    search_architecture,
)


def test_probe_finds_linear_tasks_and_their_state_size(task_data: Callable) -> None:
    expected = {"Prev2": 3, "Sum_Last3": 3, "Sum_All": 1, "Newton_Freebody": 2}
    for name, rank in expected.items():
        (x, y), _ = task_data(name, 1000)
        probe = probe_linearity(x, y)
        assert probe.is_exact and probe.hankel_rank == rank, name
    (x, y), _ = task_data("Parity_All", 1000)
    assert not probe_linearity(x, y).is_exact


def test_ladder_starts_linear_only_when_the_probe_allows(task_data: Callable) -> None:
    (x, y), _ = task_data("Prev1", 500)
    linear_first = default_ladder(probe_linearity(x, y))
    assert linear_first[0] == RNNArchitecture(1, 1, 2)
    (x, y), _ = task_data("Parity_All", 500)
    nonlinear = default_ladder(probe_linearity(x, y))
    assert all(not a.is_linear for a in nonlinear)
    assert nonlinear[0] == RNNArchitecture(1, 2, 1, 32)
    assert [a.hidden_dim for a in nonlinear[:3]] == [1, 2, 4]
    assert all(a.output_depth == 1 for a in nonlinear[:3])
    assert len(set(nonlinear)) == len(nonlinear) and max(a.hidden_dim for a in nonlinear) == 16
    assert max(a.hidden_dim for a in default_ladder(None, max_hidden=8)) == 8


def test_search_stops_at_the_first_exact_architecture(task_data: Callable) -> None:
    train, val = task_data("Bit_Shift_Right", 1000)
    ladder = [RNNArchitecture(1, 1, 1), RNNArchitecture(1, 1, 2), RNNArchitecture(1, 1, 3)]
    seen = []
    result = search_architecture(
        train, val, ladder=ladder, seeds_per_architecture=1,
        config=TrainConfig(max_steps=1500, patience=300), on_attempt=seen.append,
    )  # fmt: skip
    assert result.is_perfect and result.architecture == RNNArchitecture(1, 1, 2)
    assert [a.architecture.hidden_dim for a in seen] == [1, 2]


def test_search_respects_its_time_budget(task_data: Callable) -> None:
    train, val = task_data("Parity_Last3", 500)
    result = search_architecture(train, val, time_budget_s=0.0)
    assert result.best is None and result.attempts == [] and not result.is_perfect


def test_one_run_gets_only_a_share_of_the_budget_left(task_data: Callable) -> None:
    train, val = task_data("Parity_Last3", 500)
    ladder = [RNNArchitecture(1, 2, 1, 8), RNNArchitecture(1, 2, 2, 8)]
    config = TrainConfig(max_steps=5000, eval_every=20)
    result = search_architecture(
        train, val, ladder=ladder, config=config, time_budget_s=30, attempt_share=1e-6,
        retry_above=0.0, rounds=1,
    )  # fmt: skip
    assert [a.steps for a in result.attempts] == [20] * 4


def test_a_second_seed_is_tried_only_after_a_close_first(task_data: Callable) -> None:
    train, val = task_data("Parity_Last3", 500)
    ladder = [RNNArchitecture(1, 1, 1), RNNArchitecture(1, 1, 2)]
    config = TrainConfig(max_steps=40, eval_every=20)
    result = search_architecture(train, val, ladder=ladder, config=config, retry_above=0.999)
    assert [(a.architecture.hidden_dim, a.seed) for a in result.attempts] == [(1, 0), (2, 0)]
    result = search_architecture(train, val, ladder=ladder, config=config, retry_above=0.0)
    assert [a.seed for a in result.attempts] == [0, 1, 0, 1]


def test_budget_left_after_the_ladder_buys_another_walk_with_fresh_seeds(
    task_data: Callable,
) -> None:
    train, val = task_data("Prev1", 500)
    ladder = [RNNArchitecture(1, 1, 1), RNNArchitecture(1, 2, 1, 4)]
    config = TrainConfig(max_steps=40, eval_every=20)
    result = search_architecture(
        train, val, ladder=ladder, config=config, retry_above=0.999, rounds=2, time_budget_s=60
    )
    walked = [(a.architecture.is_linear, a.seed) for a in result.attempts]
    assert walked == [(True, 0), (False, 0), (False, 2)]  # the second walk skips linear rungs


def test_a_random_start_follows_an_inexact_realisation(
    task_data: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, val = task_data("Prev1", 500)  # Hankel rank 2: a 1-unit realisation is inexact
    monkeypatch.setattr(search, "default_ladder", lambda probe: [RNNArchitecture(1, 1, 1)])
    config = TrainConfig(max_steps=40, eval_every=20)
    result = search_architecture(train, val, config=config, retry_above=0.999)
    assert [a.seed for a in result.attempts] == [0, 1] and not result.is_perfect


@pytest.mark.parametrize("name", ["Sum_Last6", "Newton_Spring", "Newton_Gravity"])
def test_minimal_realisation_of_the_probe_is_an_exact_linear_rnn(
    name: str, task_data: Callable
) -> None:
    (x, y), (x_test, y_test) = task_data(name, 2000)
    probe = probe_linearity(x, y)
    model = realize_linear(probe, probe.hankel_rank)
    assert model.architecture == RNNArchitecture(1, 1, probe.hankel_rank)
    assert rnn_accuracy(model, x_test, y_test) == 1.0


def test_linear_rungs_start_from_the_realisation_and_stop_at_once(task_data: Callable) -> None:
    train, val = task_data("Sum_Last7", 1200)
    result = search_architecture(train, val, time_budget_s=60)
    assert result.is_perfect and result.architecture == RNNArchitecture(1, 1, 7)
    assert [a.steps for a in result.attempts] == [0]


def test_random_linear_starts_still_train_a_running_sum(task_data: Callable) -> None:
    train, val = task_data("Sum_All", 1500)
    result = search_architecture(
        train, val, time_budget_s=120, linear_init="random", attempt_share=1.0
    )
    assert result.is_perfect and result.architecture == RNNArchitecture(1, 1, 1)
    assert result.attempts[0].steps > 0


def test_sequences_of_one_position_are_realised_as_well() -> None:
    x = np.random.default_rng(0).integers(-9, 10, (300, 1, 2))
    y = 3 * x[..., :1] - x[..., 1:] + 2
    probe = probe_linearity(x, y)
    assert probe.is_exact and probe.hankel_rank == 1
    assert rnn_accuracy(realize_linear(probe, 1), x, y) == 1.0
