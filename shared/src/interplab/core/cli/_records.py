"""``interplab runs list|show|compare|delete``, ``export jsonl|parquet|mlflow`` and ``import``."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from interplab.core.cli import app, export_app, runs_app
from interplab.core.cli._common import (
    AnalysisName,
    Experiment,
    Package,
    Since,
    Status,
    StoreOption,
    Tag,
    Where,
    console,
    filters,
    open_store,
    plural,
)
from interplab.core.errors import StoreError
from interplab.core.records import ExperimentRecord, format_value

if TYPE_CHECKING:
    from interplab.core.store import Store


@runs_app.command("list")
def runs_list(
    store: StoreOption = None,
    package: Package = None,
    analysis: AnalysisName = None,
    status: Status = None,
    experiment: Experiment = None,
    tag: Tag = None,
    since: Since = None,
    where: Where = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (newest first).")] = 50,
) -> None:
    """List records, newest first, with their first metrics."""
    chosen = filters(package, analysis, status, experiment, tag, since, where)
    opened = open_store(store)
    opened.check_known(**chosen)  # a misspelt --experiment would silently list nothing
    _check_where_keys(opened, where or [])
    records = opened.query(limit=limit, newest_first=True, **chosen)
    title = f"{len(records)} of {plural(opened.count(**chosen), 'record')}"
    table = Table(title=title, title_justify="left")
    for column in ("id", "experiment", "analysis", "status", "created (UTC)", "metrics"):
        # an id is copied into `runs show`: never split across lines
        table.add_column(column, **({"no_wrap": True} if column == "id" else {"overflow": "fold"}))
    for r in records:
        metrics = ", ".join(
            f"{k.split('.', 1)[1]}={format_value(m.value, m.unit)}"
            for k, m in list(r.metrics.items())[:3]
        )
        table.add_row(
            escape(r.id), escape(r.experiment or ""), r.analysis, r.status,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"), escape(metrics),
        )  # fmt: skip
    console.print(table)


def _check_where_keys(store: Store, where: list[str]) -> None:
    """Refuse a --where on a metric key no stored record has: it would silently match nothing."""
    from interplab.core.store import MetricFilter

    if not where:
        return
    known = store.distinct("metric")
    for text in where:
        key = MetricFilter.parse(text).key
        if key in known:
            continue
        close = [k for k in known if k.endswith(f".{key}")] or difflib.get_close_matches(
            key, known, n=1
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        raise StoreError(
            f"--where {text!r}: no stored record has the metric {key!r}.{hint} "
            + (f"Known metric keys: {listing}." if known else "The store holds no metrics yet.")
        )


@runs_app.command("show")
def runs_show(
    record_id: Annotated[
        str, typer.Argument(help="Record id, a run id (all its records), or a unique prefix.")
    ],
    store: StoreOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the record's JSON (a list for a run's records).")
    ] = False,
) -> None:
    """Show a record, or each record of a run: metrics with units, config, inputs, env, error."""
    records = open_store(store).resolve(record_id)
    if as_json:
        data = [json.loads(r.to_json()) for r in records]
        typer.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        return
    for i, record in enumerate(records):
        if i:
            console.rule()
        _show(record)


def _show(record: ExperimentRecord) -> None:
    """One record as `runs show` prints it."""
    colour = {"completed": "green", "failed": "red"}.get(record.status, "yellow")
    status = escape(f"[{record.status}]")
    console.print(f"[bold]{escape(record.id)}[/]  {record.analysis}  [{colour}]{status}[/]")
    console.print(f"experiment {escape(record.experiment or '-')}, run {record.run_id}, "
                  f"created {record.created_at:%Y-%m-%d %H:%M:%S} UTC")  # fmt: skip
    if record.metrics:
        table = Table(title="metrics", title_justify="left")
        for column in ("metric", "value", "better", "description"):
            table.add_column(column, overflow="fold")
        for key, m in record.metrics.items():
            better = {True: "higher", False: "lower", None: ""}[m.higher_is_better]
            table.add_row(key, format_value(m.value, m.unit), better, escape(m.description))
        console.print(table)
    for title, value in (
        ("params", record.params), ("inputs", record.inputs),
        ("artifacts", {k: a.model_dump() for k, a in record.artifacts.items()}),
        ("env", record.env.model_dump()),
    ):  # fmt: skip
        if value:
            console.print(f"[bold]{title}[/]")
            console.print(escape(json.dumps(value, indent=2, default=str)))
    if record.error:
        console.print(f"[bold red]error[/]\n{escape(record.error)}")


@runs_app.command("compare")
def runs_compare(
    record_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Record ids, run ids (all their records) or prefixes."),
    ] = None,
    store: StoreOption = None,
    analysis: AnalysisName = None,
    experiment: Experiment = None,
) -> None:
    """Compare records side by side: metrics (best marked), inputs, and the params that differ.

    Records of several analyses (a composed experiment) are grouped by the content hashes of
    their inputs, so runs on the same model and data sit next to each other.
    """
    opened = open_store(store)
    records = [r for i in record_ids or [] for r in opened.resolve(i)]
    if analysis or experiment:
        chosen = filters(analysis=analysis, experiment=experiment)
        opened.check_known(**chosen)
        matching = opened.query(**chosen)
        if not matching:
            raise StoreError(_no_match(opened, analysis or [], experiment or []))
        records += matching
    records = list({r.id: r for r in records}.values())  # each record once
    if len(records) < 2:
        raise StoreError(
            "compare needs at least two records: give ids, or --analysis/--experiment."
        )
    console.print(_comparison(records))


def _no_match(store: Store, analysis: list[str], experiment: list[str]) -> str:
    """Why --analysis/--experiment, each stored, found nothing together: what the store holds."""
    chosen = " ".join([*(f"--analysis {a}" for a in analysis),
                       *(f"--experiment {e}" for e in experiment)])  # fmt: skip
    known = [
        f"known {field}s: {', '.join(store.distinct(field)) or 'none'}"
        for field, given in (("experiment", experiment), ("analysis", analysis))
        if given
    ]
    return f"no records match {chosen}; {'; '.join(known)}."


def _column_ids(records: list[ExperimentRecord]) -> list[str]:
    """Each id's shortest prefix (16 characters or more) that no other shown id starts with."""
    ids = [r.id for r in records]
    out = []
    for rid in ids:
        n = min(16, len(rid))
        while n < len(rid) and any(o != rid and o.startswith(rid[:n]) for o in ids):
            n += 1
        out.append(rid[:n])
    return out


def _comparison(records: list[ExperimentRecord]) -> Table:
    """Params (and seeds) that differ and every metric, best marked; records as rows when many."""
    param_keys = [
        key
        for key in dict.fromkeys(k for r in records for k in r.params_and_seed)
        if len({json.dumps(r.params_and_seed.get(key), default=str) for r in records}) > 1
    ]
    metric_keys = list(dict.fromkeys(k for r in records for k in r.metrics))
    best: dict[str, float | None] = {}
    directions: dict[str, bool | None] = {}
    for key in metric_keys:
        present = [r.metrics[key] for r in records if key in r.metrics]
        direction = next((m.higher_is_better for m in present), None)
        finite = [m.value for m in present if m.is_finite]
        directions[key] = direction
        best[key] = (
            (max(finite) if direction else min(finite))
            if finite and direction is not None
            else None
        )

    def cell(r: ExperimentRecord, key: str) -> str:
        m = r.metrics.get(key)
        if m is None:
            return "-"
        text = format_value(m.value, m.unit)
        return f"[bold green]{text} *[/]" if m.value == best[key] else text  # * without colour

    def header(key: str) -> str:
        return key + {True: " ↑", False: " ↓", None: ""}[directions[key]]

    def param(r: ExperimentRecord, key: str) -> str:
        value = r.params_and_seed.get(key)
        return "-" if value is None else escape(json.dumps(value, default=str).strip('"'))

    table = Table(title=f"{len(records)} records (best: * in green)", title_justify="left")
    experiments = len({r.experiment for r in records}) > 1
    if len(records) <= 4:  # records as columns
        table.add_column("", no_wrap=True)
        for column_id in _column_ids(records):  # prefixes `runs show` accepts
            table.add_column(escape(column_id), justify="right", overflow="fold")
        if experiments:
            table.add_row("[dim]experiment[/]", *(escape(r.experiment or "-") for r in records))
        table.add_row("[dim]analysis[/]", *(escape(r.analysis) for r in records))
        for name in dict.fromkeys(k for r in records for k in r.inputs):
            table.add_row(
                f"[dim]input[/] {escape(name)}",
                *(escape(_short(r.inputs.get(name, "-"))) for r in records),
            )
        for key in param_keys:
            table.add_row(f"[dim]param[/] {escape(key)}", *(param(r, key) for r in records))
        for key in metric_keys:
            table.add_row(header(key), *(cell(r, key) for r in records))
        return table
    mixed = len({r.analysis for r in records}) > 1
    if mixed:  # records of several analyses: grouped by the inputs they share
        records = sorted(records, key=lambda r: (_inputs_label(r), r.analysis, r.id))
    else:  # a sweep, in the order of its params
        records = sorted(
            records, key=lambda r: [_order(r.params_and_seed.get(k)) for k in param_keys]
        )
    # params as `param.<key>`, like the wide frame's columns: a param and a metric may share a
    # name (sweeping n_samples reports core.n_samples)
    labels = [*(["experiment"] if experiments else []), *(["inputs", "analysis"] if mixed else []),
              *([f"param.{k}" for k in param_keys] or ["id"])]  # fmt: skip
    prefix = _common_prefix(metric_keys)
    if any(key.removeprefix(prefix) in labels for key in metric_keys):
        prefix = ""  # the metrics' full names, which no label has
    for label in labels:
        table.add_column(escape(label), no_wrap=True)
    for key in metric_keys:
        table.add_column(escape(header(key).removeprefix(prefix)), justify="right", overflow="fold")
    for r in records:
        cells = [param(r, k) for k in param_keys] or [escape(r.id)]
        if mixed:
            cells = [escape(_inputs_label(r)), escape(r.analysis), *cells]
        if experiments:
            cells = [escape(r.experiment or "-"), *cells]
        table.add_row(*cells, *(cell(r, key) for key in metric_keys))
    if prefix:
        table.caption = f"metric columns are {escape(prefix)}<name>"
    return table


def _order(value: Any) -> tuple[int, float, str]:
    """Sort key of a param value: missing first, then numbers by value, then anything as text."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, json.dumps(value, default=str))


def _short(digest: str) -> str:
    """A content hash shortened for a table cell (``sha256:`` dropped, 10 hex digits)."""
    return digest.removeprefix("sha256:")[:10]


def _inputs_label(record: ExperimentRecord) -> str:
    """``name=hash`` of every input of ``record``: equal labels mean the same model and data."""
    return " ".join(f"{k}={_short(v)}" for k, v in sorted(record.inputs.items())) or "-"


def _common_prefix(keys: list[str]) -> str:
    namespaces = {k.split(".", 1)[0] for k in keys}
    return f"{namespaces.pop()}." if len(namespaces) == 1 else ""


@runs_app.command("delete")
def runs_delete(
    record_ids: Annotated[
        list[str] | None, typer.Argument(help="Record ids, or run ids (all their records).")
    ] = None,
    store: StoreOption = None,
    experiment: Experiment = None,
    status: Status = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete records by id, every record of a run by its id, or of --experiment / --status."""
    from interplab.core.cli._commands import _confirm

    opened = open_store(store)
    chosen = filters(experiment=experiment, status=status)
    if not record_ids and not chosen:
        raise StoreError("say what to delete: record ids, --experiment or --status.")
    opened.check_known(**chosen)
    ids = list(dict.fromkeys(r.id for i in record_ids or [] for r in opened.resolve(i)))
    count = len(ids) + (opened.count(**chosen) if chosen else 0)
    if not yes:
        _confirm(f"Delete {count} record(s) from {opened!r}?")
    removed = opened.delete(ids) + (opened.delete_where(**chosen) if chosen else 0)
    console.print(f"deleted {removed} record(s)")


def _suffixes(fmt: str) -> list[str]:
    from interplab.core.store import export_suffixes

    return export_suffixes(fmt)


def _export(path: Path, fmt: str, store: str | None, **chosen: Any) -> None:
    if path.suffix.lower() not in _suffixes(fmt):
        raise StoreError(
            f"{str(path)!r} does not end in {' or '.join(_suffixes(fmt))}; `interplab import` "
            f"tells the format by the suffix, so name the {fmt} file e.g. "
            f"{str(path.with_suffix(_suffixes(fmt)[0]))!r}."
        )
    opened = open_store(store)
    count = opened.export(path, format=fmt, **chosen)
    console.print(f"wrote {count} records to {path}")
    artifacts = sum(len(r.artifacts) for r in opened.query(**chosen))
    if artifacts:
        console.print(
            f"their {artifacts} artifacts (figures, programs) are referenced by content hash and "
            "stay in the cache: to see them elsewhere, point INTERPLAB_CACHE there at a copy of it."
        )


@export_app.command("jsonl")
def export_jsonl(
    path: Annotated[Path, typer.Argument(help="Output .jsonl file.")],
    store: StoreOption = None, package: Package = None, analysis: AnalysisName = None,
    status: Status = None, experiment: Experiment = None, tag: Tag = None,
) -> None:  # fmt: skip
    """Write records as JSON Lines (one full record per line; `interplab import` reads it)."""
    _export(path, "jsonl", store, **filters(package, analysis, status, experiment, tag))


@export_app.command("parquet")
def export_parquet(
    path: Annotated[Path, typer.Argument(help="Output .parquet file.")],
    store: StoreOption = None, package: Package = None, analysis: AnalysisName = None,
    status: Status = None, experiment: Experiment = None, tag: Tag = None,
) -> None:  # fmt: skip
    """Write records to Parquet (indexed columns + full record JSON)."""
    _export(path, "parquet", store, **filters(package, analysis, status, experiment, tag))


@export_app.command("mlflow")
def export_mlflow(
    tracking_uri: Annotated[str, typer.Option(help="MLflow tracking URI, e.g. sqlite:///mlflow.db.")],
    store: StoreOption = None, package: Package = None, analysis: AnalysisName = None,
    experiment: Experiment = None,
) -> None:  # fmt: skip
    """Log records as MLflow runs (params, metrics, tags); needs the 'mlflow' extra."""
    from interplab.core.exports import export_to_mlflow

    records = open_store(store).query(**filters(package, analysis, None, experiment))
    count = export_to_mlflow(records, tracking_uri)
    console.print(f"logged {count} records to MLflow at {tracking_uri}")


@app.command("import")
def import_records(
    path: Annotated[
        Path, typer.Argument(help="A .jsonl or .parquet file from `interplab export`.")
    ],
    store: StoreOption = None,
    replace: Annotated[
        bool, typer.Option(help="Overwrite stored records whose ids the file has, changed.")
    ] = False,
) -> None:
    """Add records from an export; all are validated first, so a bad file adds nothing.

    Records equal to stored ones are skipped; a record whose id is stored with other content
    is refused (and nothing imported) unless --replace.
    """
    if path.is_file() and path.suffix.lower() not in (*_suffixes("jsonl"), *_suffixes("parquet")):
        raise StoreError(
            f"cannot tell the format of {str(path)!r} (suffix {path.suffix!r}); `interplab "
            "import` reads .jsonl and .parquet files from `interplab export`: rename the file "
            "to the suffix of its format."
        )
    from interplab.core.store._files import import_format

    import_format(path)  # a directory or a missing file: said before the store is made
    result = open_store(store, create=True).import_file(path, replace=replace)
    console.print(
        f"imported {result.new} new records, replaced {result.replaced}, "
        f"{result.unchanged} already stored from {path}"
    )
