"""The analysis-plugin contract, as a check any plugin can run against itself in its own tests.

::

    from interplab.core.testing import check_analysis

    def test_my_analysis_keeps_the_contract(tmp_path):
        check_analysis(MyAnalysis, {"n": 10}, workdir=tmp_path)

:func:`check_analysis` runs the analysis the way the runner does (a fresh cache, a seed, no
progress bars) twice, and fails with a message naming the broken rule. The rules are those of
CONTRIBUTING.md: a ``package.what`` name, a frozen pydantic Config that rejects unknown keys, a
docstring, declared metric specs, metric keys namespaced by the package (``mylab.score`` for
``mylab.probe``), records made with ``ctx.record`` (right package, analysis and run id, unique
ids, finite or NaN numbers, artifacts present in the blob store), records that survive JSON and
a store round trip, and the same ids and numbers on a rerun with the same seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext, no_progress
from interplab.core.cache import Cache
from interplab.core.device import resolve_device, seed_everything
from interplab.core.environment import capture_environment
from interplab.core.records import ExperimentRecord

__all__ = ["ContractError", "check_analysis", "check_analysis_class"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*\.[a-z0-9][a-z0-9_.\-]*$")


class ContractError(AssertionError):
    """An analysis breaks the plugin contract (the message names the rule)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def check_analysis_class(cls: type[Analysis]) -> None:
    """The static half of the contract: name, Config, docstring, metric specs and their keys."""
    _require(isinstance(cls, type) and issubclass(cls, Analysis), f"{cls!r} is not an Analysis")
    name = getattr(cls, "name", "")
    _require(
        isinstance(name, str) and bool(_NAME.match(name)),
        f"{cls.__name__}.name={name!r} must be 'package.what' in lowercase, e.g. 'mylab.probe'",
    )
    _require(bool(cls.summary()), f"{name}: give the class a docstring (its first line is shown)")
    config_cls = cls.Config
    _require(
        isinstance(config_cls, type) and issubclass(config_cls, AnalysisConfig),
        f"{name}: Config must subclass interplab.core.analysis.AnalysisConfig",
    )
    _require(
        config_cls.model_config.get("extra") == "forbid"
        and bool(config_cls.model_config.get("frozen")),
        f"{name}: Config must stay frozen and reject unknown keys (keep AnalysisConfig's settings)",
    )
    _require(isinstance(cls.metrics, Mapping), f"{name}: metrics must map names to MetricSpec")
    for key in cls.metrics:
        _check_metric_key(cls, key, "declares")


def _check_metric_key(cls: type[Analysis], key: str, where: str) -> None:
    """Metric keys are namespaced by the analysis's package: ``<package>.<what>``."""
    prefix = f"{cls.package()}."
    _require(
        key.startswith(prefix) and len(key) > len(prefix),
        f"{cls.name}: {where} metric {key!r}, but metric keys must start with its package "
        f"prefix {prefix!r} (e.g. '{prefix}{key.rpartition('.')[2] or 'score'}')",
    )


def _context(cls: type[Analysis], config: AnalysisConfig, cache: Cache, seed: int) -> RunContext:
    device = resolve_device("cpu")
    return RunContext(
        run_id=f"contract-{cls.name}-{seed}",
        analysis=cls.name,
        package=cls.package(),
        params=config.model_dump(mode="json"),
        seed=seed,
        device=device,
        cache=cache,
        env=capture_environment(device=str(device), seed=seed, analysis=cls.name),
        metric_specs=cls.metrics,
        experiment="contract",
        progress=no_progress,
    )


def _run(cls: type[Analysis], config: AnalysisConfig, cache: Cache, seed: int) -> list[Any]:
    ctx = _context(cls, config, cache, seed)
    seed_everything(seed)
    records = list(cls().run(config, ctx))
    _require(bool(records), f"{cls.name}: run() yielded no records")
    for record in records:
        _require(
            isinstance(record, ExperimentRecord),
            f"{cls.name}: run() must yield ExperimentRecords made with ctx.record, got "
            f"{type(record).__name__}",
        )
    return records


def _check_records(cls: type[Analysis], records: list[ExperimentRecord], cache: Cache) -> None:
    ids = [r.id for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
    _require(not dupes, f"{cls.name}: record ids {dupes} repeat; give each record a unique key")
    for r in records:
        where = f"{cls.name} record {r.id}"
        _require(r.analysis == cls.name and r.package == cls.package(), f"{where}: wrong name")
        _require(r.run_id.startswith("contract-"), f"{where}: run_id not the context's")
        _require(r.status == "completed", f"{where}: status {r.status!r}, expected completed")
        for key, metric in r.metrics.items():
            _check_metric_key(cls, key, f"record {r.id} reports")
            _require(
                math.isfinite(metric.value) or math.isnan(metric.value),
                f"{where}: metric {key!r} is infinite; store NaN for 'undefined'",
            )
        for key, artifact in r.artifacts.items():
            blob = cache.read_blob(artifact.sha256)
            _require(blob is not None, f"{where}: artifact {key!r} is not in the blob store")
        text = r.model_dump_json()  # compared as JSON: NaN (a legal metric value) != NaN
        again = ExperimentRecord.model_validate_json(text)
        _require(again.model_dump_json() == text, f"{where}: does not survive a JSON round trip")


def _check_store(records: list[ExperimentRecord], workdir: Path) -> None:
    from interplab.core.store import Store

    store = Store(f"sqlite:///{workdir / 'contract-store.db'}")
    store.add_many(records)
    stored = {r.id: r for r in store.query(experiment="contract")}
    for r in records:
        _require(r.id in stored, f"record {r.id} was not stored")
        _require(
            stored[r.id].metrics.keys() == r.metrics.keys(),
            f"record {r.id}: metrics changed in the store",
        )


def _numbers(records: list[ExperimentRecord]) -> dict[str, dict[str, float]]:
    return {r.id: {k: m.value for k, m in r.metrics.items()} for r in records}


def _same(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> bool:
    if a.keys() != b.keys():
        return False
    for rid in a:
        if a[rid].keys() != b[rid].keys():
            return False
        for key, value in a[rid].items():
            other = b[rid][key]
            if not (value == other or (math.isnan(value) and math.isnan(other))):
                return False
    return True


def check_analysis(
    cls: type[Analysis],
    config: Mapping[str, Any] | None = None,
    *,
    workdir: str | Path,
    seed: int = 0,
    deterministic: bool = True,
) -> list[ExperimentRecord]:
    """Run ``cls`` with ``config`` and check every rule of the plugin contract.

    Args:
        cls: the analysis class.
        config: values for its Config (small, so the check is fast); defaults elsewhere.
        workdir: an empty folder for the cache and a SQLite store.
        seed: the run's seed.
        deterministic: also require the same record ids and metric values on a rerun.

    Returns:
        The records of the first run.

    Raises:
        ContractError: a rule is broken; the message names it.
    """
    check_analysis_class(cls)
    workdir = Path(workdir)
    try:
        parsed = cls.Config.model_validate(dict(config or {}))
    except ValidationError as error:
        raise ContractError(f"{cls.name}: the config given to the check: {error}") from None
    with_typo = {**parsed.model_dump(), "definitely_not_a_field": 1}
    try:
        cls.Config.model_validate(with_typo)
    except ValidationError:
        pass
    else:
        raise ContractError(f"{cls.name}: Config accepted an unknown key; keep extra='forbid'")
    cache = Cache(workdir / "cache")
    records = _run(cls, parsed, cache, seed)
    _check_records(cls, records, cache)
    _check_store(records, workdir)
    if deterministic:
        rerun = _run(cls, parsed, Cache(workdir / "cache-rerun"), seed)
        _require(
            [r.id for r in rerun] == [r.id for r in records],
            f"{cls.name}: a rerun with the same seed gave other record ids; derive keys from "
            "the config, not from time or randomness",
        )
        _require(
            _same(_numbers(rerun), _numbers(records)),
            f"{cls.name}: a rerun with the same seed gave other metric values; seed every "
            "random draw from ctx.seed (or pass deterministic=False and say why)",
        )
    return records
