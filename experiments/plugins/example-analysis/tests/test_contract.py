"""The example plugin keeps interplab's plugin contract and computes the right thing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from interplab_example.random_walk import RandomWalk, squared_displacements

from interplab.core.registry import get_analysis
from interplab.core.testing import ContractError, check_analysis


def test_keeps_the_plugin_contract(tmp_path: Path) -> None:
    records = check_analysis(RandomWalk, {"n_steps": 50, "n_walks": 500}, workdir=tmp_path)
    assert [r.params["n_steps"] for r in records] == [50]


def test_is_found_through_its_entry_point() -> None:
    assert get_analysis("example.random-walk") is RandomWalk


def test_msd_matches_the_closed_form_within_its_standard_error(tmp_path: Path) -> None:
    for n_steps in (1, 7, 400):
        squares = squared_displacements(n_steps, 20_000, seed=3)
        stderr = squares.std(ddof=1) / np.sqrt(len(squares))
        assert abs(squares.mean() - n_steps) < 5 * stderr + 1e-12
    assert np.all(squared_displacements(1, 100, seed=0) == 1.0)  # one step: always ±1


def test_the_contract_check_catches_a_broken_plugin(tmp_path: Path) -> None:
    class Unseeded(RandomWalk):
        """Draws without the run's seed, so reruns differ."""

        name = "example.unseeded"

        def run(self, config, ctx):  # type: ignore[no-untyped-def]
            noise = np.random.default_rng().normal()
            yield ctx.record({"example.msd": noise}, key="x")

    with pytest.raises(ContractError, match="rerun with the same seed gave other metric values"):
        check_analysis(Unseeded, {"n_steps": 5, "n_walks": 10}, workdir=tmp_path)
