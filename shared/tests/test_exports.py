"""Export to MLflow, checked against MLflow's own SQLite tracking store (the `mlflow` extra)."""

import math
from pathlib import Path

import pytest

from interplab.core.exports import export_to_mlflow
from interplab.core.records import ExperimentRecord, Metric

pytestmark = pytest.mark.extras  # runs in `nox -s test-extras`, where mlflow is installed


def records() -> list[ExperimentRecord]:
    return [
        ExperimentRecord(
            id=f"rec-{i}",
            run_id=f"run-{i}",
            package="core",
            analysis="core.selftest",
            experiment="exported",
            params={"n_samples": 10**i, "nested": {"depth": i}},
            metrics={
                "core.pi_estimate": Metric(value=3.0 + i / 10),
                "core.undefined": Metric(value=math.nan),
            },
            tags=("a", "b"),
            status="completed" if i else "failed",
        )
        for i in range(3)
    ]


def test_records_become_mlflow_runs_once(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert export_to_mlflow(records(), uri) == 3
    assert export_to_mlflow(records(), uri) == 0, "a rerun exports nothing twice"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("exported")
    runs = {r.data.tags["interplab.id"]: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["rec-0", "rec-1", "rec-2"]
    run = runs["rec-2"]
    assert run.data.metrics == {"core.pi_estimate": pytest.approx(3.2)}  # NaN is left out
    assert run.data.params == {"n_samples": "100", "nested.depth": "2"}
    assert run.data.tags["interplab.analysis"] == "core.selftest"
    assert run.info.status == "FINISHED" and runs["rec-0"].info.status == "FAILED"
    assert mlflow.__version__
