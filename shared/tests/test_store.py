"""The experiment store on SQLite and PostgreSQL (every test runs on both via ``store_url``).

Expected results are computed with plain Python over the same records, never by the store.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from interplab.core.errors import StoreError
from interplab.core.records import Artifact, ExperimentRecord, Metric
from interplab.core.store import ImportResult, MetricFilter, Store
from interplab.core.store import _store as store_module
from interplab.core.store._engine import normalize_url
from interplab.core.store._tables import metrics as metrics_table

MakeRecord = Callable[..., ExperimentRecord]
T0 = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
PLUS5 = timezone(timedelta(hours=5))
MINUS3 = timezone(timedelta(hours=-3))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened


def _ids(records: Sequence[ExperimentRecord]) -> list[str]:
    return [r.id for r in records]


def _ordered(records: Sequence[ExperimentRecord]) -> list[ExperimentRecord]:
    """Oldest first by instant, ties by id: the order the store promises."""
    return sorted(records, key=lambda r: (r.created_at, r.id))


def _json(records: Sequence[ExperimentRecord]) -> list[str]:
    """Exact serialised form (NaN == NaN here, unlike record equality)."""
    return [r.model_dump_json() for r in records]


def _metric_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(metrics_table)) or 0)


# ---------------------------------------------------------------------- a varied dataset

METRIC_X = [0.0, 1.0, 2.0, 2.0, 3.0, -1.0, math.nan, 2.5, -1e300, 1e300, 1.999, 2.001]
TAG_SETS: list[tuple[str, ...]] = [(), ("a",), ("a", "b"), ("b",), ("b", "c", "a"), ("c",)]
PACKAGES = ["core", "robustness", "mips"]
STATUSES = ["completed", "completed", "failed", "running", "interrupted"]
EXPERIMENTS: list[str | None] = [None, "a.toml", "b.toml"]
N_DATASET = 25  # coprime with 7, so (7 * i) % N is a permutation: insertion order != time order


@pytest.fixture
def dataset(make_record: MakeRecord) -> list[ExperimentRecord]:
    """Records varying in every filterable field; times out of insertion order, mixed offsets."""
    records = []
    for i in range(N_DATASET):
        package = PACKAGES[i % 3]
        created = T0 + timedelta(minutes=(7 * i) % N_DATASET)
        if i % 3 == 1:
            created = created.astimezone(PLUS5)  # same instant, other offset
        elif i % 3 == 2:
            created = created.astimezone(MINUS3)
        metrics: dict[str, Any] = {}
        if i % 4 != 3:
            metrics["core.x"] = Metric(value=METRIC_X[i % len(METRIC_X)], unit="u")
        if i % 2 == 0:
            metrics["core.y"] = Metric(value=i / 10, higher_is_better=True)
        records.append(
            make_record(
                id=f"{package[:3]}-{i:03d}",
                run_id=f"run-{i % 5}",
                package=package,
                analysis=f"{package}.{'sweep' if i % 2 else 'probe'}",
                status=STATUSES[i % len(STATUSES)],
                experiment=EXPERIMENTS[(i // 3) % 3],
                created_at=created,
                tags=TAG_SETS[(i // 2) % len(TAG_SETS)],
                metrics=metrics,
                params={"i": i, "model": {"name": f"m{i % 2}", "dims": [i, i + 1]}},
            )
        )
    # two records at the same instant: the id breaks the tie
    records.append(make_record(id="tie-b", created_at=T0 + timedelta(minutes=5), metrics={}))
    records.append(make_record(id="tie-a", created_at=T0 + timedelta(minutes=5), metrics={}))
    return records


_PY_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "=": operator.eq, "!=": operator.ne,
}  # fmt: skip


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _one_of(value: Any) -> set[Any] | None:
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def _expected(records: Sequence[ExperimentRecord], **filters: Any) -> list[ExperimentRecord]:
    """The records the filters select, by plain Python, in the store's order."""
    out = []
    for r in records:
        ok = True
        for name in ("package", "analysis", "status", "experiment", "run_id"):
            allowed = _one_of(filters.get(name))
            if allowed is not None and getattr(r, name) not in allowed:
                ok = False
        allowed_ids = _one_of(filters.get("ids"))
        if allowed_ids is not None and r.id not in allowed_ids:
            ok = False
        wanted_tags = _one_of(filters.get("tags")) or set()
        if not wanted_tags <= set(r.tags):
            ok = False
        if "since" in filters and r.created_at < _utc(filters["since"]):
            ok = False
        if "until" in filters and r.created_at > _utc(filters["until"]):
            ok = False
        for item in filters.get("metrics", ()):
            if isinstance(item, str):
                parts = re.fullmatch(r"\s*([\w.\-]+)\s*(>=|<=|!=|==|=|<|>)\s*(\S+)\s*", item)
                assert parts is not None, item
                key, op, raw = parts.groups()
            else:
                key, op, raw = item.key, item.op, item.value
            value = r.metrics[key].value if key in r.metrics else math.nan
            # NaN means "not defined for this run": it satisfies no comparison, not even !=
            if math.isnan(value) or not _PY_OPS[op](value, float(raw)):
                ok = False
        if ok:
            out.append(r)
    return _ordered(out)


QUERY_CASES: list[dict[str, Any]] = [
    {},
    {"package": "core"},
    {"package": ["core", "mips"]},
    {"package": []},
    {"analysis": "robustness.sweep"},
    {"analysis": ["core.probe", "mips.sweep"]},
    {"status": "completed"},
    {"status": ["failed", "running"]},
    {"experiment": "a.toml"},
    {"run_id": "run-3"},
    {"run_id": ["run-1", "run-2"]},
    {"ids": ["cor-000", "mip-002", "nope"]},
    {"tags": "a"},
    {"tags": ["a", "b"]},
    {"tags": ("a", "b", "c")},
    {"tags": ["zzz"]},
    {"since": T0 + timedelta(minutes=10)},
    {"until": T0 + timedelta(minutes=5)},
    {"since": T0 + timedelta(minutes=3), "until": T0 + timedelta(minutes=12)},
    {"since": datetime(2024, 6, 1, 0, 8)},  # naive: taken as UTC
    {"since": datetime(2024, 6, 1, 5, 9, tzinfo=PLUS5)},  # 00:09 UTC
    {"until": datetime(2024, 5, 31, 21, 4, tzinfo=MINUS3)},  # 00:04 UTC
    *({"metrics": [MetricFilter("core.x", op, 2.0)]} for op in _PY_OPS),
    *({"metrics": [f"core.x{op}2"]} for op in _PY_OPS),
    {"metrics": ["core.x >= -1", "core.y<1.5"]},
    {"metrics": ["core.x>=-inf"]},
    {"metrics": ["core.x>=1e300"]},
    {"metrics": ["core.nothing>0"]},
    {"package": "core", "status": "completed", "tags": "a", "metrics": ["core.x>=0"]},
    {"package": ["core", "robustness"], "since": T0 + timedelta(minutes=4), "tags": ["b"]},
]


def _case_id(case: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in case.items()) or "all"


@pytest.mark.parametrize("filters", QUERY_CASES, ids=[_case_id(c) for c in QUERY_CASES])
def test_query_and_count_match_a_plain_python_filter(
    store: Store, dataset: list[ExperimentRecord], filters: dict[str, Any]
) -> None:
    assert store.add_many(dataset) == len(dataset)
    expected = _expected(dataset, **filters)
    # guard against cases that pass trivially: each selects some records but not all
    if filters.get("package") == [] or filters in (
        {"tags": ["zzz"]},
        {"metrics": ["core.nothing>0"]},
    ):
        assert expected == []
    elif filters:
        assert 0 < len(expected) < len(dataset)
    got = store.query(**filters)
    assert _ids(got) == _ids(expected)
    assert _json(got) == _json(expected)
    assert store.count(**filters) == len(expected)
    assert _ids(store.query(newest_first=True, **filters)) == _ids(expected)[::-1]
    wide = store.to_frame(wide=True, **filters)
    assert list(wide["id"]) == _ids(expected)


def test_limit_and_newest_first(store: Store, dataset: list[ExperimentRecord]) -> None:
    store.add_many(dataset)
    ordered = _ordered(dataset)
    assert _ids(store.query(limit=5)) == _ids(ordered[:5])
    assert _ids(store.query(limit=5, newest_first=True)) == _ids(ordered[::-1][:5])
    assert _ids(store.query(limit=3, package="mips")) == _ids(
        [r for r in ordered if r.package == "mips"][:3]
    )
    assert store.query(limit=0) == []
    assert _ids(store.query(limit=1000)) == _ids(ordered)
    # the tie at minute 5 is broken by id, both ways
    ties = [i for i in _ids(store.query()) if i.startswith("tie-")]
    assert ties == ["tie-a", "tie-b"]
    ties_desc = [i for i in _ids(store.query(newest_first=True)) if i.startswith("tie-")]
    assert ties_desc == ["tie-b", "tie-a"]


# ---------------------------------------------------------------------- add and get


def test_add_and_get_by_id_and_prefix(store: Store, make_record: MakeRecord) -> None:
    record = make_record(id="alpha-12345", tags=("x", "y", "x"))
    other = make_record(id="beta-1")
    store.add(record)
    store.add(other)
    assert store.get("alpha-12345") == record
    assert store.get("alpha-1") == record
    assert store.get("a") == record
    assert store.get("beta") == other
    assert store.count() == 2
    assert store.count(tags=["x", "y"]) == 1  # the repeated tag is stored once


def test_get_prefix_is_literal_and_case_sensitive(store: Store, make_record: MakeRecord) -> None:
    for record_id in ("a_b-1", "axb-2", "50%-x", "505-y", "Exp-1", "exp-2", r"back\slash"):
        store.add(make_record(id=record_id))
    assert store.get("a_b").id == "a_b-1"  # '_' is not a wildcard
    assert store.get("ax").id == "axb-2"
    assert store.get("50%").id == "50%-x"  # '%' is not a wildcard
    assert store.get("505").id == "505-y"
    assert store.get("Exp").id == "Exp-1"  # case matters on every backend
    assert store.get("exp").id == "exp-2"
    assert store.get("back\\").id == r"back\slash"


def test_get_ambiguous_prefix(store: Store, make_record: MakeRecord) -> None:
    store.add_many([make_record(id="abc-2"), make_record(id="abc-1"), make_record(id="abd")])
    with pytest.raises(
        StoreError, match=r"record id prefix 'abc' is ambiguous: it matches abc-1, abc-2; give more"
    ):
        store.get("abc")
    store.add_many([make_record(id=f"many-{i}") for i in range(7)])
    with pytest.raises(
        StoreError,
        match=r"prefix 'many' is ambiguous: it matches many-0, many-1, many-2, many-3, many-4, …",
    ):
        store.get("many")
    assert store.get("abc-1").id == "abc-1"  # an exact id wins even when it is also a prefix


def test_resolve_names_a_record_or_every_record_of_a_run(
    store: Store, make_record: MakeRecord
) -> None:
    layers = [make_record(id=f"7f3a-layer{i}", run_id="7f3a") for i in range(3)]
    marker = make_record(id="7f3a", run_id="7f3a", status="failed", metrics={})
    other = [make_record(id="7e55-x", run_id="7e55"), make_record(id="7e55-y", run_id="7e55")]
    single = make_record(id="9c-only", run_id="9c")
    store.add_many([*layers, *other, single])
    assert _ids(store.resolve("7f3a")) == _ids(layers)  # a run id: all of its records
    assert _ids(store.resolve("7f")) == _ids(layers)  # a prefix of one run id
    assert _ids(store.resolve("7f3a-layer1")) == ["7f3a-layer1"]  # a record id
    assert _ids(store.resolve("7e55")) == _ids(other)
    assert _ids(store.resolve("9")) == ["9c-only"]
    with pytest.raises(StoreError, match=r"no record with id 'zz'"):
        store.resolve("zz")
    with pytest.raises(
        StoreError, match=r"record id prefix '7' is ambiguous: it matches 7e55-x, 7e55-y, 7f3a-"
    ):
        store.resolve("7")  # two runs
    with pytest.raises(StoreError, match=r"prefix '7f3a-layer' is ambiguous"):
        store.resolve("7f3a-layer")  # records of one run, but not a prefix of its run id
    with pytest.raises(StoreError, match=r"prefix '7f3a' is ambiguous"):
        store.get("7f3a")  # get names one record
    store.add(marker)  # a failed rerun: its marker has the run id as its id
    assert sorted(_ids(store.resolve("7f3a"))) == sorted(_ids([marker, *layers]))
    store.add(make_record(id="7f3a-x-1", run_id="7f3a-x"))  # a run id extending another
    assert len(store.resolve("7f3a")) == 4  # the exact run id wins
    assert _ids(store.resolve("7f3a-x")) == ["7f3a-x-1"]


def test_a_stored_record_that_no_longer_validates_names_its_id(
    store: Store, make_record: MakeRecord
) -> None:
    from sqlalchemy import update

    from interplab.core.store._tables import runs

    store.add(make_record(id="old-inf", metrics={"core.x": 1.0}))
    text = store.get("old-inf").to_json().replace('"value":1.0', '"value":Infinity')
    with store.engine.begin() as conn:  # as an older interplab, which accepted inf, stored it
        conn.execute(update(runs).where(runs.c.id == "old-inf").values(record_json=text))
    message = r"stored record 'old-inf' no longer validates .*interplab runs delete old-inf"
    with pytest.raises(StoreError, match=message):
        store.query()
    with pytest.raises(StoreError, match=message):
        store.get("old-inf")


def test_get_missing_id(store: Store, make_record: MakeRecord) -> None:
    store.add(make_record(id="present"))
    with pytest.raises(
        StoreError,
        match=re.escape(f"no record with id 'nope' in {store!r}; `interplab runs list` shows"),
    ):
        store.get("nope")
    with pytest.raises(StoreError, match=r"no record with id 'presentX'"):
        store.get("presentX")


def test_add_replaces_a_record_with_the_same_id(store: Store, make_record: MakeRecord) -> None:
    first = make_record(
        id="same",
        metrics={"core.a": 1.0, "core.b": 2.0},
        params={"old": 1},
        tags=("old",),
        status="running",
    )
    second = make_record(
        id="same", metrics={"core.c": 3.0}, params={"new": 2}, tags=("new",), status="completed"
    )
    store.add(first)
    store.add(make_record(id="bystander"))
    store.add(second)
    assert store.count() == 2
    assert store.get("same") == second
    long = store.to_frame(ids=["same"])
    assert list(long["metric"]) == ["core.c"]
    assert list(long["value"]) == [3.0]
    assert _metric_rows(store) == 1 + 2  # 'same' has 1, the bystander the factory's 2
    assert store.count(tags="old") == 0
    assert store.count(tags="new") == 1
    assert store.count(status="running") == 0
    wide = store.to_frame(wide=True, ids=["same"])
    assert "param.old" not in wide.columns
    assert list(wide["param.new"]) == [2]
    # re-adding the identical batch is idempotent
    store.add_many([second])
    assert store.count() == 2
    assert _metric_rows(store) == 3


def test_add_many_with_duplicate_ids_writes_nothing(store: Store, make_record: MakeRecord) -> None:
    kept = [make_record(id="keep-1"), make_record(id="keep-2")]
    store.add_many(kept)
    rows_before = _metric_rows(store)
    batch = [
        make_record(id="new-1"),
        make_record(id="keep-1", metrics={"core.changed": 9.0}),
        make_record(id="new-1"),
        make_record(id="keep-1"),
    ]
    with pytest.raises(StoreError, match=r"records to add share ids \['keep-1', 'new-1'\]"):
        store.add_many(batch)
    assert _ids(store.query()) == ["keep-1", "keep-2"]
    assert store.query() == kept
    assert _metric_rows(store) == rows_before
    assert store.add_many([]) == 0


@pytest.mark.parametrize(
    ("error_type", "message"),
    [
        (OperationalError, "disk I/O error"),
        (DataError, "value too long for type character varying(32)"),
    ],
)
def test_add_many_rolls_back_when_the_database_fails_midway(
    store: Store,
    make_record: MakeRecord,
    monkeypatch: pytest.MonkeyPatch,
    error_type: type[DBAPIError],
    message: str,
) -> None:
    original = make_record(id="keep", metrics={"core.a": 1.0})
    store.add(original)
    real_insert = store_module.insert_rows

    def failing_insert(conn: Any, table: Any, rows: Any) -> None:
        if table.name == "params":  # runs and metrics are already written by now
            raise error_type("INSERT INTO params", {}, Exception(message))
        real_insert(conn, table, rows)

    monkeypatch.setattr(store_module, "insert_rows", failing_insert)
    replacement = make_record(id="keep", metrics={"core.b": 2.0})
    with pytest.raises(StoreError, match=r"writing to Store\(.*\) failed: " + re.escape(message)):
        store.add_many([replacement, make_record(id="fresh")])
    monkeypatch.undo()
    assert _ids(store.query()) == ["keep"]
    assert store.get("keep") == original  # the delete of the old version was rolled back too
    assert list(store.to_frame()["metric"]) == ["core.a"]


def test_params_whose_flattened_keys_collide_can_be_stored(
    store: Store, make_record: MakeRecord
) -> None:
    record = make_record(id="dotted", params={"a.b": 1, "a": {"b": 2, "c": 3}})
    store.add(record)
    assert store.get("dotted") == record
    wide = store.to_frame(wide=True)
    assert list(wide["param.a.b"]) == [2]  # the later entry wins in the derived table
    assert list(wide["param.a.c"]) == [3]


# ---------------------------------------------------------------------- completed runs


def test_completed_run_ids(store: Store, make_record: MakeRecord) -> None:
    plan = {
        "done": ["completed", "completed"],
        "still-running": ["completed", "running"],
        "failed": ["failed"],
        "half-failed": ["completed", "failed"],
        "interrupted": ["interrupted", "completed"],
        "single": ["completed"],
    }
    store.add_many(
        make_record(id=f"{run}-{n}", run_id=run, status=status)
        for run, statuses in plan.items()
        for n, status in enumerate(statuses)
    )
    expected = {run for run, statuses in plan.items() if set(statuses) == {"completed"}}
    assert expected == {"done", "single"}
    wanted = [*plan, "unknown", *(f"pad-{i}" for i in range(1200))]  # several IN chunks
    assert store.completed_run_ids(wanted) == expected
    assert store.completed_run_ids(["still-running", "single", "single"]) == {"single"}
    assert store.completed_run_ids([]) == set()


# ---------------------------------------------------------------------- deleting


def test_delete_by_id(store: Store, dataset: list[ExperimentRecord]) -> None:
    store.add_many(dataset)
    victims = ["cor-000", "rob-001"]
    assert store.delete([*victims, "missing"]) == 2
    assert store.delete("mip-002") == 1
    assert store.delete("mip-002") == 0
    gone = {*victims, "mip-002"}
    remaining = _ordered([r for r in dataset if r.id not in gone])
    assert _ids(store.query()) == _ids(remaining)
    assert _metric_rows(store) == sum(len(r.metrics) for r in remaining)
    assert set(store.to_frame()["id"]).isdisjoint(gone)


def test_delete_where(store: Store, dataset: list[ExperimentRecord]) -> None:
    store.add_many(dataset)
    filters: dict[str, Any] = {"package": "robustness", "metrics": ["core.x>=1"]}
    doomed = _expected(dataset, **filters)
    assert len(doomed) > 0
    assert store.delete_where(**filters) == len(doomed)
    remaining = _ordered([r for r in dataset if r not in doomed])
    assert _ids(store.query()) == _ids(remaining)
    assert _metric_rows(store) == sum(len(r.metrics) for r in remaining)
    assert store.delete_where(tags=["a", "b"]) == len(_expected(remaining, tags=["a", "b"]))
    assert store.delete_where(package=[]) == 0
    with pytest.raises(StoreError, match=r"delete_where\(\) needs at least one filter"):
        store.delete_where()


def test_delete_all(store: Store, dataset: list[ExperimentRecord]) -> None:
    store.add_many(dataset)
    assert store.delete_all() == len(dataset)
    assert store.count() == 0
    assert _metric_rows(store) == 0
    assert store.to_frame().empty
    assert store.delete_all() == 0
    store.add(dataset[0])  # usable afterwards
    assert _ids(store.query()) == [dataset[0].id]


# ---------------------------------------------------------------------- data frames


def test_long_frame(store: Store, dataset: list[ExperimentRecord]) -> None:
    store.add_many(dataset)
    frame = store.to_frame()
    expected = [(r, key) for r in _ordered(dataset) for key in sorted(r.metrics)]
    assert len(frame) == sum(len(r.metrics) for r in dataset) == len(expected)
    assert list(frame.columns) == [
        "id", "run_id", "package", "analysis", "status", "experiment", "created_at", "seed",
        "metric", "value", "unit", "higher_is_better",
    ]  # fmt: skip
    assert list(frame["seed"]) == [r.env.seed for r, _ in expected]
    assert list(frame["id"]) == [r.id for r, _ in expected]
    assert list(frame["metric"]) == [key for _, key in expected]
    np.testing.assert_array_equal(
        frame["value"].to_numpy(), np.array([r.metrics[k].value for r, k in expected])
    )
    assert frame["value"].dtype == np.float64
    assert list(frame["unit"]) == [r.metrics[k].unit for r, k in expected]
    assert list(frame["higher_is_better"]) == [r.metrics[k].higher_is_better for r, k in expected]
    assert list(frame["run_id"]) == [r.run_id for r, _ in expected]
    assert list(frame["package"]) == [r.package for r, _ in expected]
    assert list(frame["created_at"]) == [r.created_at for r, _ in expected]
    assert str(frame["created_at"].dt.tz) == "UTC"
    sub = store.to_frame(package="mips", status="completed")
    want = [r for r in _expected(dataset, package="mips", status="completed") if r.metrics]
    assert sorted(set(sub["id"])) == sorted(_ids(want))
    assert len(sub) == sum(len(r.metrics) for r in want)


def _flatten(params: dict[str, Any], prefix: str = "param.") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_wide_frame(store: Store, dataset: list[ExperimentRecord], make_record: MakeRecord) -> None:
    extra = make_record(
        id="zz-bare",
        metrics={},
        params={"empty": {}, "deep": {"er": {"est": "x"}}, "flag": True},
        created_at=T0 + timedelta(hours=1),
    )
    records = [*dataset, extra]
    store.add_many(records)
    frame = store.to_frame(wide=True)
    ordered = _ordered(records)
    assert list(frame["id"]) == _ids(ordered)  # records without metrics are rows too
    metric_keys = sorted({k for r in records for k in r.metrics})
    param_keys = sorted({k for r in records for k in _flatten(r.params)})
    assert param_keys[:3] == ["param.deep.er.est", "param.empty", "param.flag"]
    assert set(frame.columns) == {
        "id", "run_id", "package", "analysis", "status", "experiment", "created_at", "seed",
        *metric_keys, *param_keys,
    }  # fmt: skip
    assert list(frame["seed"]) == [r.env.seed for r in ordered]
    assert {r.env.seed for r in ordered} == set(range(1, len(ordered) + 1)), "seeds all differ"
    for key in metric_keys:
        assert frame[key].dtype == np.float64
        np.testing.assert_array_equal(
            frame[key].to_numpy(),
            np.array([r.metrics[key].value if key in r.metrics else np.nan for r in ordered]),
        )
    for row, record in zip(frame.to_dict("records"), ordered, strict=True):
        flat = _flatten(record.params)
        for key in param_keys:
            if key in flat:
                assert row[key] == flat[key], (record.id, key)
            else:
                assert isinstance(row[key], float) and math.isnan(row[key]), (record.id, key)
        assert row["created_at"] == record.created_at
    bare = frame[frame["id"] == "zz-bare"].iloc[0]
    assert all(math.isnan(bare[k]) for k in metric_keys)
    assert bare["param.empty"] == {}
    no_params = store.to_frame(wide=True, with_params=False, package="core")
    assert not any(c.startswith("param.") for c in no_params.columns)
    assert list(no_params["id"]) == _ids(_expected(records, package="core"))


def test_frames_of_an_empty_selection(store: Store, dataset: list[ExperimentRecord]) -> None:
    store.add_many(dataset)
    assert store.to_frame(package="nobody").empty
    wide = store.to_frame(wide=True, package="nobody")
    assert wide.empty
    assert "id" in wide.columns


# ---------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_export_import_round_trip(
    store: Store, dataset: list[ExperimentRecord], tmp_path: Path, suffix: str
) -> None:
    store.add_many(dataset)
    path = tmp_path / "out" / f"records{suffix}"
    assert store.export(path) == len(dataset)
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed away
    assert store.import_file(path) == ImportResult(unchanged=len(dataset))  # NaN metrics too
    assert store.delete_all() == len(dataset)
    assert store.import_file(path) == ImportResult(new=len(dataset))
    assert _json(store.query()) == _json(_ordered(dataset))
    assert _metric_rows(store) == sum(len(r.metrics) for r in dataset)
    # and into a fresh SQLite store in another file
    with Store(f"sqlite:///{tmp_path}/fresh.db") as fresh:
        assert fresh.import_file(path).new == len(dataset)
        assert _json(fresh.query()) == _json(_ordered(dataset))
    # filtered export
    part = tmp_path / f"core{suffix}"
    expected = _expected(dataset, package="core", status="completed")
    assert store.export(part, package="core", status="completed") == len(expected)
    store.delete_all()
    assert store.import_file(part) == ImportResult(new=len(expected))
    assert _json(store.query()) == _json(expected)


def test_parquet_export_has_queryable_columns(
    store: Store, dataset: list[ExperimentRecord], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    store.add_many(dataset)
    path = tmp_path / "x.pq"
    store.export(path)
    table = pq.read_table(path).to_pylist()
    ordered = _ordered(dataset)
    assert [row["id"] for row in table] == _ids(ordered)
    assert [row["package"] for row in table] == [r.package for r in ordered]
    assert [row["created_at"] for row in table] == [r.created_at for r in ordered]
    assert [row["schema_version"] for row in table] == [2] * len(ordered)
    assert [json.loads(row["record_json"])["id"] for row in table] == _ids(ordered)


def test_export_format_errors(store: Store, tmp_path: Path) -> None:
    with pytest.raises(
        StoreError, match=r"cannot tell the format of '.*records\.csv' \(suffix '\.csv'\)"
    ):
        store.export(tmp_path / "records.csv")
    assert store.export(tmp_path / "records.txt", format="jsonl") == 0
    assert (tmp_path / "records.txt").read_text() == ""
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(
        StoreError, match=rf"import file '{re.escape(str(missing))}' does not exist"
    ):
        store.import_file(missing)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_import_refuses_records_that_differ_from_stored_ones_unless_replace(
    store: Store, make_record: MakeRecord, tmp_path: Path, suffix: str
) -> None:
    artifact = Artifact(sha256="ab" * 32, media_type="image/png", size_bytes=3, title="fig")
    records = [
        make_record(id=f"r-{i}", metrics={"core.x": math.nan, "core.y": i / 3},
                    artifacts={"fig": artifact}, created_at=T0.astimezone(PLUS5))
        for i in range(7)
    ]  # fmt: skip
    store.add_many(records)
    path = tmp_path / f"all{suffix}"
    store.export(path)
    assert store.import_file(path) == ImportResult(unchanged=7)
    # the file's versions of r-1 … r-6 differ from the stored ones; r-0 is as stored
    edited = [records[0]] + [
        r.model_copy(update={"metrics": {"core.x": Metric(value=9.0)}}) for r in records[1:]
    ]
    store.delete(["r-0"])
    store.add_many([*records[1:], make_record(id="kept")])
    before = _json(store.query())
    edited_path = tmp_path / f"edited{suffix}"
    with Store(f"sqlite:///{tmp_path}/other.db") as other:
        other.add_many(edited)
        other.export(edited_path)
    message = (
        rf"{re.escape(str(edited_path))}: 6 record\(s\) have ids the store holds with other "
        r"content \(r-1, r-2, r-3, r-4, r-5, …\), so nothing was imported\. .*pass replace=True"
    )
    with pytest.raises(StoreError, match=message):
        store.import_file(edited_path)
    assert _json(store.query()) == before  # not even the new r-0 was added
    assert store.import_file(edited_path, replace=True) == ImportResult(new=1, replaced=6)
    assert store.get("r-3").metrics == {"core.x": Metric(value=9.0)}
    assert _metric_rows(store) == 2 + 2 + 6  # "kept", r-0, r-1 … r-6 (one metric each now)
    assert store.import_file(edited_path) == ImportResult(unchanged=7)


def test_import_of_a_folder_or_a_file_with_repeated_ids(
    store: Store, make_record: MakeRecord, tmp_path: Path
) -> None:
    folder = tmp_path / "exports.jsonl"
    folder.mkdir()
    with pytest.raises(
        StoreError,
        match=r"'.*exports\.jsonl' is a directory; pass the export file \(\.jsonl or \.parquet, "
        r"written by `interplab export`\) inside it; it holds no \.jsonl, \.ndjson, \.parquet "
        r"or \.pq file\.",
    ):
        store.import_file(folder)
    inside = _write_lines(folder / "runs.jsonl", [make_record(id="inside").to_json()])
    with pytest.raises(StoreError, match=rf"inside it; it holds {re.escape(repr(str(inside)))}\."):
        store.import_file(folder)
    record = make_record(id="twice")
    path = _write_lines(tmp_path / "twice.jsonl", [record.to_json(), record.to_json()])
    with pytest.raises(StoreError, match=r"several records with the ids \['twice'\], so nothing"):
        store.import_file(path)
    assert store.count() == 0


def test_export_with_filters_that_match_nothing_keeps_the_file(
    store: Store, make_record: MakeRecord, tmp_path: Path
) -> None:
    store.add_many([make_record(experiment="quickstart"), make_record(experiment="seeds")])
    path = tmp_path / "keep.jsonl"
    assert store.export(path) == 2
    kept = path.read_text()
    with pytest.raises(
        StoreError,
        match=r"no stored record has the experiment 'quickstrat'\. Did you mean 'quickstart'\? "
        r"Known experiments: quickstart, seeds\. Nothing was exported and '.*keep\.jsonl' was "
        r"left as it was\.",
    ):
        store.export(path, experiment="quickstrat")
    with pytest.raises(
        StoreError,
        match=r"no records match experiment='seeds', status='failed'; .* Nothing was exported",
    ):
        store.export(path, experiment=["seeds"], status="failed")
    with pytest.raises(StoreError, match=r"no stored record has the package 'nope'"):
        store.export(tmp_path / "new.parquet", package="nope")
    assert path.read_text() == kept and not (tmp_path / "new.parquet").exists()
    store.delete_all()
    assert store.export(path) == 0 and path.read_text() == ""  # no filters: an empty store


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", r"line 3 is not a valid record, so nothing was imported: Expecting"),
        ("[1, 2]", r"line 3: a record must be a JSON object, got list Nothing was imported"),
        ('{"id": "x"}', r"line 3 is not a valid record, so nothing was imported: .*Field required"),
        ("SCHEMA99", r"line 3: record 'future' has schema_version=99; .* Nothing was imported"),
        (
            "BADKEY",
            r"line 3 is not a valid record, so nothing was imported: metrics: Value error, "
            r"metric key 'loss' is not namespaced",
        ),
        (
            "INF",
            r"line 3 is not a valid record, so nothing was imported: .*metric value inf is not ",
        ),
    ],
    ids=["json", "array", "invalid", "future-version", "bad-metric-key", "infinite-metric"],
)
def test_import_with_one_bad_line_writes_nothing(
    store: Store, make_record: MakeRecord, tmp_path: Path, bad_line: str, message: str
) -> None:
    existing = [make_record(id="old-1"), make_record(id="old-2")]
    store.add_many(existing)
    if bad_line == "SCHEMA99":
        data = json.loads(make_record(id="future").to_json())
        data["schema_version"] = 99
        bad_line = json.dumps(data)
    elif bad_line == "BADKEY":
        data = json.loads(make_record(id="badkey").to_json())
        data["metrics"] = {"loss": {"value": 1.0}}
        bad_line = json.dumps(data)
    elif bad_line == "INF":  # what json.dumps writes for float("inf")
        bad_line = json.dumps(
            json.loads(make_record(id="inf", metrics={"core.x": 1.0}).to_json())
            | {"metrics": {"core.x": {"value": math.inf}}}
        )
    path = _write_lines(
        tmp_path / "in.jsonl",
        [make_record(id="new-1").to_json(), "", bad_line, make_record(id="new-2").to_json()],
    )
    with pytest.raises(StoreError, match=re.escape(f"{path}:") + message):
        store.import_file(path)
    assert store.count() == 2
    assert store.query() == existing
    assert _metric_rows(store) == 4


def test_import_with_one_bad_parquet_row_writes_nothing(
    store: Store, make_record: MakeRecord, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bad.parquet"
    texts = [make_record(id="p-0").to_json(), '{"id": 5}', make_record(id="p-2").to_json()]
    pq.write_table(pa.table({"record_json": texts}), path)
    with pytest.raises(StoreError, match=re.escape(f"{path}:row 1 is not a valid record")):
        store.import_file(path)
    assert store.count() == 0
    pq.write_table(pa.table({"json": texts}), path)
    with pytest.raises(StoreError, match=rf"{re.escape(str(path))} has no 'record_json' column"):
        store.import_file(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("binary.jsonl", b"\xff\xfe\x00garbage"),
        ("parquet-bytes.jsonl", "PARQUET"),
        ("text.parquet", b"not parquet\n"),
        ("truncated.parquet", "TRUNCATED"),
    ],
)
def test_import_of_a_corrupt_or_mislabelled_file_writes_nothing(
    store: Store, make_record: MakeRecord, tmp_path: Path, name: str, content: Any
) -> None:
    store.add(make_record(id="old-1"))
    if isinstance(content, str):  # a real Parquet export, whole or cut short
        source = tmp_path / "source.parquet"
        store.export(source)
        data = source.read_bytes()
        content = data if content == "PARQUET" else data[: len(data) // 2]
    path = tmp_path / name
    path.write_bytes(content)
    kind = "JSON Lines" if name.endswith(".jsonl") else "Parquet"
    with pytest.raises(
        StoreError, match=rf"{re.escape(str(path))} is not a readable {kind} export .*nothing was "
    ):
        store.import_file(path)
    assert _ids(store.query()) == ["old-1"]


def test_import_upgrades_v1_lines(store: Store, make_record: MakeRecord, tmp_path: Path) -> None:
    v1 = {
        "id": "legacy-1",
        "package": "seglabels",
        "analysis": "seglabels.audit",
        "created_at": "2022-01-01T00:00:00",
        "metrics": {"auprc": 0.75, "seglabels.n": 12},
        "units": {"auprc": "fraction"},
        "tags": "old,imported",
    }
    current = make_record(id="modern-1")
    path = _write_lines(tmp_path / "mixed.jsonl", [json.dumps(v1), current.to_json()])
    assert store.import_file(path) == ImportResult(new=2)
    assert store.import_file(path).unchanged == 2  # an upgraded record equals its stored form
    legacy = store.get("legacy-1")
    assert legacy.schema_version == 2
    assert legacy.run_id == "legacy-1"
    assert legacy.tags == ("old", "imported")
    assert legacy.created_at == datetime(2022, 1, 1, tzinfo=UTC)
    assert legacy.metrics == {
        "seglabels.auprc": Metric(value=0.75, unit="fraction"),
        "seglabels.n": Metric(value=12.0),
    }
    assert store.get("modern-1") == current
    assert store.count(tags=["old", "imported"]) == 1
    assert _ids(store.query(metrics=["seglabels.auprc>0.5"])) == ["legacy-1"]
    frame = store.to_frame(package="seglabels")
    assert dict(zip(frame["metric"], frame["value"], strict=True)) == {
        "seglabels.auprc": 0.75,
        "seglabels.n": 12.0,
    }


# ---------------------------------------------------------------------- filters and URLs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("core.x", r"metric filter 'core\.x' is not of the form KEY OP NUMBER"),
        ("core.x>=", r"metric filter 'core\.x>=': '=' is not a number"),
        ("core.x>=1 2", r"metric filter 'core\.x>=1 2' is not of the form"),
        ("core x>1", r"metric filter 'core x>1' is not of the form"),
        ("core.x>=abc", r"metric filter 'core\.x>=abc': 'abc' is not a number"),
        ("core.x=>2", r"metric filter 'core\.x=>2': '>2' is not a number"),
    ],
)
def test_metric_filter_parse_errors(store_url: str, text: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        MetricFilter.parse(text)
    with Store(store_url) as store, pytest.raises(StoreError, match=message):
        store.count(metrics=[text])


def test_metric_filter_parse_and_operator_check(store_url: str) -> None:
    assert MetricFilter.parse(" seglabels.auprc >= 0.5 ") == MetricFilter(
        "seglabels.auprc", ">=", 0.5
    )
    assert MetricFilter.parse("a.b-c!=-1e-3") == MetricFilter("a.b-c", "!=", -0.001)
    assert MetricFilter.parse("core.x=2") == MetricFilter("core.x", "=", 2.0)
    with pytest.raises(StoreError, match=r"metric filter operator '~' is not one of"):
        MetricFilter("core.x", "~", 1.0)
    with Store(store_url) as store, pytest.raises(StoreError, match=r"operator '=>' is not one of"):
        store.query(metrics=[MetricFilter("core.x", "=>", 1.0)])


def test_since_and_until_take_dates_and_iso_strings_and_metrics_one_string(
    store: Store, dataset: list[ExperimentRecord]
) -> None:
    store.add_many(dataset)
    day = T0.date()  # the dataset's records are all made on this day, 00:00 to 00:24 UTC

    def ids(**filters: Any) -> list[str]:
        return _ids(store.query(**filters))

    at_8 = ids(since=T0 + timedelta(minutes=8))
    assert 0 < len(at_8) < len(dataset)
    for text in ("2024-06-01T00:08", "2024-06-01 00:08:00", "2024-06-01T05:08:00+05:00"):
        assert ids(since=text) == at_8, text
    assert ids(since=day) == ids(since="2024-06-01") == _ids(_ordered(dataset))
    assert ids(since="20240602") == ids(since=date(2024, 6, 2)) == []
    assert ids(until=day) == ids(until="2024-06-01") == _ids(_ordered(dataset))  # the whole day
    assert ids(until="2024-05-31") == []
    assert ids(metrics="core.x>=2") == ids(metrics=["core.x>=2"]) != []
    assert ids(metrics=MetricFilter("core.x", ">=", 2)) == ids(metrics="core.x>=2")
    with pytest.raises(StoreError, match=r"since='yesterday' is not an ISO date or date-time; "):
        store.query(since="yesterday")
    with pytest.raises(StoreError, match=r"until='2024-13-01' is not an ISO date"):
        store.count(until="2024-13-01")
    with pytest.raises(StoreError, match=r"since=5 is not a datetime, a date or an ISO string"):
        store.query(since=5)


def test_normalize_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert normalize_url("postgres://u:pw@db.example:5432/lab") == (
        "postgresql+psycopg://u:pw@db.example:5432/lab"
    )
    assert normalize_url("postgresql://u@h/lab") == "postgresql+psycopg://u@h/lab"
    assert normalize_url("postgresql+psycopg://u@h/lab") == "postgresql+psycopg://u@h/lab"
    assert normalize_url("sqlite:////abs/store.db") == "sqlite:////abs/store.db"
    assert normalize_url("store.db") == f"sqlite:///{tmp_path.resolve()}/store.db"
    assert normalize_url("  sub/x.db ") == f"sqlite:///{tmp_path.resolve()}/sub/x.db"
    assert normalize_url("~/s.db") == f"sqlite:///{(tmp_path / 'home').resolve()}/s.db"
    with pytest.raises(StoreError, match=r"the store URL is empty"):
        normalize_url("   ")
    # a bare path opens a SQLite store (creating its folder)
    with Store("nested/dir/bare.db") as bare:
        assert bare.url == f"sqlite:///{tmp_path.resolve()}/nested/dir/bare.db"
        assert bare.dialect == "sqlite"
        assert repr(bare) == f"Store('sqlite:///{tmp_path.resolve()}/nested/dir/bare.db')"
    assert (tmp_path / "nested" / "dir" / "bare.db").is_file()
    # postgres:// goes through psycopg; nothing listens on port 1, and the password is hidden
    with pytest.raises(
        StoreError,
        match=r"(?s)cannot open store "
        r"Store\('postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:1/lab'\): .*Check the URL",
    ) as info:
        Store("postgres://u:s3cret@127.0.0.1:1/lab")
    assert "s3cret" not in str(info.value)
    with pytest.raises(StoreError, match=r"cannot open store 'mysql://u:\*\*\*@h/db'"):
        Store("mysql://u:pw@h/db")


def test_a_store_path_that_is_not_a_usable_sqlite_file(tmp_path: Path) -> None:
    text = tmp_path / "notdb.txt"
    text.write_text("not a database\n" * 100)
    with pytest.raises(
        StoreError,
        match=r"cannot open store .*notdb\.txt'\): file is not a database\. Check that the path "
        r"is a SQLite store made by interplab",
    ):
        Store(str(text))
    blocker = tmp_path / "afile"
    blocker.write_text("")
    where = re.escape(str(blocker))
    with pytest.raises(
        StoreError, match=rf"its folder '{where}' cannot be created \('{where}' is a file\)"
    ):
        Store(f"sqlite:///{blocker}/x.db")
    assert text.read_text() == "not a database\n" * 100


def test_export_to_a_path_that_cannot_be_written(
    store: Store, make_record: MakeRecord, tmp_path: Path
) -> None:
    store.add(make_record())
    blocker = tmp_path / "afile"
    blocker.write_text("")
    where = re.escape(str(blocker))
    with pytest.raises(StoreError, match=rf"cannot write the export to '{where}/x\.parquet' \("):
        store.export(blocker / "x.parquet")
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    with pytest.raises(StoreError, match=r"folder\.jsonl' is a folder; name a file"):
        store.export(folder)
    assert list(folder.iterdir()) == []
    with pytest.raises(StoreError, match=r"suffix of a parquet file but the format is jsonl"):
        store.export(tmp_path / "x.parquet", format="jsonl")
    assert not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------------- concurrency

N_CONCURRENT_METRICS = 3


def _concurrent_record(worker: int, i: int) -> ExperimentRecord:
    return ExperimentRecord(
        id=f"w{worker}-{i:04d}",
        run_id=f"w{worker}",
        package="core",
        analysis="core.concurrency",
        created_at=T0 + timedelta(seconds=i),
        params={"worker": worker, "i": i},
        metrics={
            f"core.m{k}": Metric(value=worker * 10_000 + i + k / 10)
            for k in range(N_CONCURRENT_METRICS)
        },
        tags=(f"w{worker}",),
    )


def _concurrent_writer(url: str, worker: int, n: int, barrier: Any) -> None:
    """Child process: wait for the others, then add ``n`` records one ``add()`` at a time."""
    barrier.wait(timeout=120)
    with Store(url) as store:  # opened concurrently too: table creation races are covered
        for i in range(n):
            store.add(_concurrent_record(worker, i))


@pytest.mark.slow
def test_concurrent_writers(store_url: str) -> None:
    n_workers = 4
    n = 500 if store_url.startswith("sqlite") else 100
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n_workers)
    procs = [
        ctx.Process(target=_concurrent_writer, args=(store_url, w, n, barrier))
        for w in range(n_workers)
    ]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join(timeout=180)
        assert [p.exitcode for p in procs] == [0] * n_workers
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    with Store(store_url) as store:
        assert store.count() == n_workers * n
        expected_ids = {f"w{w}-{i:04d}" for w in range(n_workers) for i in range(n)}
        assert set(_ids(store.query())) == expected_ids
        assert _metric_rows(store) == n_workers * n * N_CONCURRENT_METRICS
        frame = store.to_frame()
        assert len(frame) == n_workers * n * N_CONCURRENT_METRICS
        assert set(frame.groupby("id").size()) == {N_CONCURRENT_METRICS}
        expected_values = sorted(
            m.value
            for w in range(n_workers)
            for i in range(n)
            for m in _concurrent_record(w, i).metrics.values()
        )
        np.testing.assert_array_equal(np.sort(frame["value"].to_numpy()), expected_values)
        for w in range(n_workers):
            assert store.count(tags=f"w{w}", run_id=f"w{w}") == n
