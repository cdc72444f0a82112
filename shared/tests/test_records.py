"""The experiment record: JSON round trip, validation, immutability and schema upgrades."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from interplab.core.errors import StoreError
from interplab.core.records import (
    SCHEMA_VERSION,
    Artifact,
    Environment,
    ExperimentRecord,
    Metric,
    MetricSpec,
    upgrade,
)

MakeRecord = Callable[..., ExperimentRecord]


def _full_record() -> ExperimentRecord:
    """A record with every field set, including nested params and an artifact."""
    return ExperimentRecord(
        id="rt-1",
        run_id="run-rt",
        package="robustness",
        analysis="robustness.layer-sweep",
        status="failed",
        created_at=datetime(2024, 5, 2, 9, 30, 15, 123456, tzinfo=UTC),
        started_at=datetime(2024, 5, 2, 9, 0, tzinfo=timezone(timedelta(hours=2))),
        finished_at=datetime(2024, 5, 2, 9, 30, tzinfo=UTC),
        params={
            "model": {"name": "gpt2", "layers": [1, 2, 3], "opts": {"fp16": True, "eps": 1e-6}},
            "seed": 7,
            "note": None,
        },
        metrics={
            "robustness.loss_delta": Metric(value=-0.25, unit="nats", higher_is_better=False),
            "robustness.kl-mean": Metric(value=3.5e-4, description="mean KL"),
        },
        artifacts={
            "plot": Artifact(sha256="ab" * 32, media_type="image/png", size_bytes=1234, title="t")
        },
        inputs={"model": "c" * 64},
        env=Environment(python="3.11", platform="linux", packages={"torch": "2.5"}, seed=7),
        experiment="sweep.toml",
        parent_id="rt-0",
        tags=("a", "b"),
        error="RuntimeError: boom",
    )


def test_json_round_trip_gives_an_equal_record() -> None:
    record = _full_record()
    text = record.to_json()
    back = ExperimentRecord.from_json(text)
    assert back == record
    assert ExperimentRecord.from_json(text.encode()) == record  # bytes too
    assert back.params["model"] == {
        "name": "gpt2",
        "layers": [1, 2, 3],
        "opts": {"fp16": True, "eps": 1e-6},
    }
    # the offset is kept: same instant, same representation
    assert back.started_at == datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    assert back.started_at is not None
    assert back.started_at.utcoffset() == timedelta(hours=2)
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION == 2


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinite_metric_values_are_refused(make_record: MakeRecord, value: float) -> None:
    with pytest.raises(ValidationError, match=r"metric value -?inf is not finite"):
        Metric(value=value)
    with pytest.raises(ValidationError, match=r"not finite"):
        MetricSpec(unit="nats")(value)
    text = (
        make_record(metrics={"core.x": 1.0})
        .model_dump_json()
        .replace('"value":1.0', '"value":' + ("Infinity" if value > 0 else "-Infinity"))
    )
    with pytest.raises(ValidationError, match=r"not finite"):
        ExperimentRecord.from_json(text)


def test_json_round_trip_keeps_nan_metric_values(make_record: MakeRecord) -> None:
    record = make_record(metrics={"core.undefined": float("nan"), "core.plain": 2.5})
    text = record.model_dump_json()
    assert '"value":NaN' in text  # written as a JSON constant, not null
    back = ExperimentRecord.from_json(text)
    assert math.isnan(back.metrics["core.undefined"].value)
    assert not back.metrics["core.undefined"].is_finite
    assert back.metrics["core.plain"].value == 2.5
    assert back.metrics["core.plain"].is_finite
    # NaN != NaN, so compare the rest of the record without it, and the exact JSON
    assert back.model_dump_json() == text
    without = {k: v for k, v in record.metrics.items() if k != "core.undefined"}
    back_without = {k: v for k, v in back.metrics.items() if k != "core.undefined"}
    assert back_without == without
    assert back.model_copy(update={"metrics": {}}) == record.model_copy(update={"metrics": {}})


def test_naive_datetimes_are_taken_as_utc(make_record: MakeRecord) -> None:
    record = make_record(
        created_at=datetime(2024, 1, 2, 3, 4, 5),
        started_at=datetime(2024, 1, 2, 3, 0, 0),
        finished_at=None,
    )
    assert record.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.created_at.tzinfo is UTC
    assert record.started_at is not None and record.started_at.tzinfo is UTC
    data = json.loads(record.model_dump_json())
    data["created_at"] = "2023-12-31T23:59:59"  # no offset in the JSON either
    back = ExperimentRecord.from_json(json.dumps(data))
    assert back.created_at == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert back.created_at.utcoffset() == timedelta(0)


def test_default_created_at_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    record = ExperimentRecord(id="x", run_id="x", package="core", analysis="core.a")
    after = datetime.now(UTC)
    assert before <= record.created_at <= after
    assert record.created_at.utcoffset() == timedelta(0)
    assert record.status == "completed"
    assert record.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("key", ["loss", "Core.loss", "core.", "1core.loss", "core..loss", ".loss"])
def test_metric_keys_must_be_namespaced(make_record: MakeRecord, key: str) -> None:
    with pytest.raises(ValidationError, match=rf"metric key '{key}' is not namespaced") as info:
        make_record(metrics={key: 1.0})
    assert "use 'package.name' in lower case" in str(info.value)


@pytest.mark.parametrize("key", ["core.loss", "robustness.kl_mean", "mips.Solved-2", "a.b.c"])
def test_namespaced_metric_keys_are_accepted(make_record: MakeRecord, key: str) -> None:
    record = make_record(metrics={key: 1.5})
    assert list(record.metrics) == [key]
    assert record.metrics[key].value == 1.5


def test_records_are_frozen(make_record: MakeRecord) -> None:
    record = make_record(id="frozen-1")
    with pytest.raises(ValidationError, match=r"frozen_instance"):
        record.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match=r"frozen_instance"):
        record.metrics["core.loss"].value = 3.0  # type: ignore[misc]
    assert record.id == "frozen-1"
    changed = record.model_copy(update={"status": "failed"})
    assert (record.status, changed.status) == ("completed", "failed")


def test_unknown_fields_are_rejected(make_record: MakeRecord) -> None:
    with pytest.raises(ValidationError, match=r"bogus_field\s+Extra inputs are not permitted"):
        make_record(bogus_field=1)
    with pytest.raises(ValidationError, match=r"colour\s+Extra inputs are not permitted"):
        Metric(value=1.0, colour="red")  # type: ignore[call-arg]
    data = json.loads(make_record().to_json())
    data["metrics"]["core.loss"]["stderr"] = 0.1
    with pytest.raises(ValidationError, match=r"metrics\.`core\.loss`\.stderr\s+Extra inputs"):
        ExperimentRecord.from_json(json.dumps(data))


def test_field_constraints(make_record: MakeRecord) -> None:
    with pytest.raises(ValidationError, match=r"package\s+String should match pattern"):
        make_record(package="Core")
    with pytest.raises(ValidationError, match=r"status\s+Input should be 'running'"):
        make_record(status="done")
    with pytest.raises(ValidationError, match=r"sha256\s+String should match pattern"):
        Artifact(sha256="XYZ", size_bytes=1)
    with pytest.raises(ValidationError, match=r"size_bytes\s+Input should be greater than"):
        Artifact(sha256="0" * 64, size_bytes=-1)
    with pytest.raises(ValidationError, match=r"id\s+String should have at most 200"):
        make_record(id="x" * 201)


def test_duration_s(make_record: MakeRecord) -> None:
    start = datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC)
    record = make_record(started_at=start, finished_at=start + timedelta(minutes=1, seconds=30.5))
    assert record.duration_s == 90.5
    # mixed offsets: 12:00+02:00 is 10:00 UTC
    other = make_record(
        started_at=datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        finished_at=datetime(2024, 1, 1, 10, 0, 2, tzinfo=UTC),
    )
    assert other.duration_s == 2.0
    assert make_record(started_at=None).duration_s is None
    assert make_record(finished_at=None).duration_s is None


# ---------------------------------------------------------------------------- schema upgrade

V1_RECORD = {
    "id": "old-0001",
    "package": "robustness",
    "analysis": "robustness.layer-sweep",
    "status": "completed",
    "created_at": "2023-05-01T10:00:00",
    "params": {"layer": 3, "model": {"name": "gpt2"}},
    "metrics": {
        "loss": 1.5,
        "robustness.kl": 0.25,
        "acc": {"value": 0.9, "unit": "fraction", "higher_is_better": True},
        "count": 7,
    },
    "units": {"loss": "nats", "robustness.kl": "bits"},
    "tags": "baseline, gpt2,, nightly ",
}


def test_v1_record_upgrades_to_v2() -> None:
    original = copy.deepcopy(V1_RECORD)
    upgraded = upgrade(V1_RECORD)
    assert original == V1_RECORD, "upgrade must not modify its input"
    assert upgraded["schema_version"] == 2
    assert "units" not in upgraded
    assert upgraded["run_id"] == "old-0001"
    assert upgraded["tags"] == ["baseline", "gpt2", "nightly"]
    assert upgraded["metrics"] == {
        "robustness.loss": {"value": 1.5, "unit": "nats"},
        "robustness.kl": {"value": 0.25, "unit": "bits"},
        "robustness.acc": {"value": 0.9, "unit": "fraction", "higher_is_better": True},
        "robustness.count": {"value": 7, "unit": ""},
    }

    record = ExperimentRecord.from_json(json.dumps(V1_RECORD))
    assert record.schema_version == 2
    assert record.id == "old-0001"
    assert record.run_id == "old-0001"
    assert record.package == "robustness"
    assert record.analysis == "robustness.layer-sweep"
    assert record.status == "completed"
    assert record.created_at == datetime(2023, 5, 1, 10, 0, tzinfo=UTC)
    assert record.params == {"layer": 3, "model": {"name": "gpt2"}}
    assert record.tags == ("baseline", "gpt2", "nightly")
    assert record.metrics == {
        "robustness.loss": Metric(value=1.5, unit="nats"),
        "robustness.kl": Metric(value=0.25, unit="bits"),
        "robustness.acc": Metric(value=0.9, unit="fraction", higher_is_better=True),
        "robustness.count": Metric(value=7.0),
    }
    assert ExperimentRecord.from_dict(V1_RECORD) == record


def test_v1_upgrade_keeps_an_explicit_run_id() -> None:
    data = {"id": "o2", "run_id": "r2", "package": "mips", "analysis": "mips.x", "tags": ["x"]}
    record = ExperimentRecord.from_dict(data)
    assert record.run_id == "r2"
    assert record.metrics == {}
    assert record.tags == ("x",)


def test_v1_metrics_without_a_package_are_namespaced_core() -> None:
    upgraded = upgrade({"id": "o3", "metrics": {"t": 2}, "tags": None})
    assert upgraded["metrics"] == {"core.t": {"value": 2, "unit": ""}}
    assert upgraded["tags"] == ()
    assert "package" not in upgraded  # still required by validation, not invented
    with pytest.raises(ValidationError, match=r"package\n\s+Field required"):
        ExperimentRecord.from_dict({"id": "o3", "analysis": "core.x"})


def test_v1_record_without_id_is_a_validation_error_naming_the_field() -> None:
    data = {k: v for k, v in V1_RECORD.items() if k != "id"}
    with pytest.raises(ValidationError, match=r"(?s)\bid\n\s+Field required.*run_id\n\s+Field"):
        ExperimentRecord.from_dict(data)


def test_current_version_passes_through_unchanged(make_record: MakeRecord) -> None:
    data = json.loads(make_record().to_json())
    assert upgrade(data) == data


@pytest.mark.parametrize("version", [99, 3, 0, -1, "2"])
def test_unsupported_schema_version_raises_store_error(
    make_record: MakeRecord, version: object
) -> None:
    data = json.loads(make_record(id="future-1").to_json())
    data["schema_version"] = version
    expected = (
        rf"record 'future-1' has schema_version={version!r}; this interplab reads versions 1\.\.2"
    )
    with pytest.raises(StoreError, match=expected):
        ExperimentRecord.from_json(json.dumps(data))
    with pytest.raises(StoreError, match=expected):
        upgrade(data)


def test_a_record_must_be_a_json_object() -> None:
    with pytest.raises(StoreError, match=r"a record must be a JSON object, got list"):
        ExperimentRecord.from_json("[1, 2]")
