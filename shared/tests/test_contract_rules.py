"""Contract rules: metric keys namespaced by package, and messages for clashing record ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from interplab.core.analysis import Analysis, RunContext
from interplab.core.cache import Cache
from interplab.core.errors import ConfigError, StoreError
from interplab.core.records import Environment, ExperimentRecord, Metric, MetricSpec
from interplab.core.store import Store
from interplab.core.testing import ContractError, check_analysis, check_analysis_class


class Borrowed(Analysis):
    """Declares its metric under another package's namespace."""

    name = "mylab.a"
    metrics: ClassVar[dict[str, MetricSpec]] = {"core.pi_estimate": MetricSpec()}

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        yield ctx.record({"core.pi_estimate": 3.0})


class Undeclared(Analysis):
    """Reports a metric (with its own spec) under another package's namespace."""

    name = "mylab.b"
    metrics: ClassVar[dict[str, MetricSpec]] = {"mylab.ok": MetricSpec()}

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        yield ctx.record({"mylab.ok": 1.0, "core.pi_estimate": Metric(value=3.0)})


class Prefixless(Undeclared):
    """Reports a key that only looks like the package."""

    name = "mylab.c"

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        yield ctx.record({"mylab.ok": 1.0, "mylabx.y": Metric(value=3.0)})


class Clashing(Undeclared):
    """Two keys that normalise to one record id."""

    name = "mylab.d"

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        yield ctx.record({"mylab.ok": 1.0}, key="layer 1")
        yield ctx.record({"mylab.ok": 2.0}, key="layer/1")


class Repeating(Undeclared):
    """One key given twice."""

    name = "mylab.e"

    def run(self, config: Any, ctx: RunContext) -> Iterator[ExperimentRecord]:
        yield ctx.record({"mylab.ok": 1.0}, key="same")
        yield ctx.record({"mylab.ok": 2.0}, key="same")


# ------------------------------------------------------------------ 3. metric key namespaces


def test_declared_metric_of_another_package_fails_naming_key_and_prefix(tmp_path: Path) -> None:
    message = r"mylab\.a: declares metric 'core\.pi_estimate'.*package prefix 'mylab\.'"
    with pytest.raises(ContractError, match=message):
        check_analysis_class(Borrowed)
    with pytest.raises(ContractError, match=message):
        check_analysis(Borrowed, workdir=tmp_path)


def test_reported_metric_of_another_package_fails(tmp_path: Path) -> None:
    check_analysis_class(Undeclared)  # its declared keys are fine
    with pytest.raises(
        ContractError,
        match=r"mylab\.b: record contract-mylab\.b-0-0000 reports metric 'core\.pi_estimate', but "
        r"metric keys must start with its package prefix 'mylab\.' \(e\.g\. 'mylab\.pi_estimate'\)",
    ):
        check_analysis(Undeclared, workdir=tmp_path)


def test_a_prefix_without_its_dot_is_not_the_namespace(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"metric 'mylabx\.y'.*prefix 'mylab\.'"):
        check_analysis(Prefixless, workdir=tmp_path)


# ------------------------------------------------------------------ 4. clashing record ids


def test_keys_that_normalise_to_one_id_name_both_keys(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"two records of 'mylab\.d' get the id contract-mylab\.d-0-layer_1: one with "
        r"key='layer 1', one with key='layer/1'\. .*replaced by '_'",
    ):
        check_analysis(Clashing, workdir=tmp_path)


def test_an_explicit_key_clashing_with_a_numbered_record(tmp_path: Path) -> None:
    ctx = RunContext(
        run_id="r", analysis="core.x", package="core", params={}, seed=0,
        device=torch.device("cpu"), cache=Cache(tmp_path), env=Environment(),
    )  # fmt: skip
    ctx.record({"core.y": Metric(value=1.0)}, key="0001")
    with pytest.raises(ConfigError, match=r"id r-0001: one with key='0001', one with no key"):
        ctx.record({"core.y": Metric(value=1.0)})


def test_a_repeated_key_names_the_id_in_the_contract_and_the_store(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"record ids \['contract-mylab\.e-0-same'\] repeat"):
        check_analysis(Repeating, workdir=tmp_path)
    now = datetime.now(UTC)
    same = ExperimentRecord(
        id="run1-layer_1", run_id="run1", package="mylab", analysis="mylab.e",
        status="completed", started_at=now, finished_at=now,
    )  # fmt: skip
    with pytest.raises(
        StoreError,
        match=r"records of run 'run1' share ids \['run1-layer_1'\]; each record id must be unique"
        r"\. .*key='layer 1' and key='layer/1' both give 'layer_1'",
    ):
        Store(f"sqlite:///{tmp_path}/s.db").replace_run("run1", [same, same])
