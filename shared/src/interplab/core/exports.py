"""Export records to other tools (MLflow; Parquet and JSON Lines live in the store)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from interplab.core.errors import MissingExtraError
from interplab.core.records import ExperimentRecord

__all__ = ["export_to_mlflow"]


def export_to_mlflow(records: Sequence[ExperimentRecord], tracking_uri: str) -> int:
    """Log each record as one MLflow run in an MLflow experiment named after its experiment.

    Params are the record's flattened config (values as JSON text, MLflow's 6000-char limit
    respected), metrics its finite metric values, tags its package/analysis/status/ids/tags.
    A record already exported (same ``interplab.id`` tag) is skipped, so reruns are idempotent.
    """
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingExtraError("mlflow", "mlflow", "Exporting to MLflow") from None
    client = MlflowClient(tracking_uri=tracking_uri)
    count = 0
    for record in records:
        name = record.experiment or record.package
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else client.create_experiment(name)
        existing = client.search_runs(
            [experiment_id], filter_string=f"tags.`interplab.id` = '{record.id}'", max_results=1
        )
        if existing:
            continue
        run = client.create_run(
            experiment_id,
            run_name=record.id,
            start_time=int(record.created_at.timestamp() * 1000),
            tags={
                "interplab.id": record.id,
                "interplab.run_id": record.run_id,
                "interplab.package": record.package,
                "interplab.analysis": record.analysis,
                "interplab.status": record.status,
                "interplab.tags": ",".join(record.tags),
            },
        )
        params = [
            mlflow.entities.Param(k, json.dumps(v, default=str)[:6000])
            for k, v in _flatten(record.params).items()
        ]
        timestamp = int(record.created_at.timestamp() * 1000)
        metrics = [
            mlflow.entities.Metric(k, m.value, timestamp, 0)
            for k, m in record.metrics.items()
            if m.is_finite
        ]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        status = "FINISHED" if record.status == "completed" else "FAILED"
        client.set_terminated(run.info.run_id, status=status)
        count += 1
    return count


def _flatten(params: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
