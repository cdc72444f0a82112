"""Experiment specs: a TOML file naming runs of analyses, validated and expanded into tasks.

::

    name = "quickstart"                 # required: names the experiment in the store
    store = "sqlite:///results.db"      # optional; --store and $INTERPLAB_STORE override it
    seed = 0                            # default seed of every run
    device = "auto"
    tags = ["demo"]

    [[runs]]
    analysis = "core.selftest"          # a registered analysis (`interplab analyses`)
    name = "pi"                         # optional label
    [runs.config]                       # the analysis's Config fields
    n_samples = 10000
    [runs.sweep]                        # optional grid: cartesian product of the lists
    n_samples = [1000, 10000]
    seed = [0, 1]                       # `seed` may be swept too

Every mistake is reported with the file, the run and the field (:class:`SpecError`).
"""

from __future__ import annotations

import difflib
import itertools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from interplab.core.errors import ConfigError, InterplabError, SpecError
from interplab.core.hashing import digest_json

__all__ = ["ExperimentSpec", "RunSpec", "Task", "load_spec", "parse_spec", "plan_tasks"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class RunSpec(BaseModel):
    """One ``[[runs]]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    analysis: str = Field(min_length=1)
    """Registered analysis name, e.g. ``core.selftest``."""
    name: str | None = Field(default=None, pattern=_NAME)
    """Label for this run in tables; defaults to the analysis name."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Values for the analysis's Config; unset fields take their defaults."""
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    """Lists of values per config field (or ``seed``); the run expands to their product."""
    seed: int | None = Field(default=None, ge=0, lt=2**32)
    device: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("sweep")
    @classmethod
    def _non_empty_lists(cls, sweep: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in sweep.items():
            if not values:
                raise ValueError(f"sweep field {key!r} has an empty list; give at least one value")
        return sweep


class ExperimentSpec(BaseModel):
    """A whole spec file."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str = Field(pattern=_NAME)
    """Experiment name, stored in every record."""
    description: str = ""
    store: str | None = None
    """Store URL; ``--store`` and ``$INTERPLAB_STORE`` override it."""
    seed: int = Field(default=0, ge=0, lt=2**32)
    device: str = "auto"
    tags: list[str] = Field(default_factory=list)
    runs: list[RunSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Task:
    """One concrete run: an analysis, a validated config and a seed. Picklable (plain data)."""

    run_id: str
    label: str
    analysis: str
    package: str
    config: dict[str, Any]
    seed: int
    device: str
    tags: tuple[str, ...]
    experiment: str


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a spec file (structure only; see :func:`plan_tasks` for configs)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file {str(source)!r} does not exist.") from None
    except OSError as error:
        raise SpecError(f"cannot read spec file {str(source)!r}: {error}") from None
    return parse_spec(text, origin=str(source))


def parse_spec(text: str, *, origin: str = "<spec>") -> ExperimentSpec:
    """Validate spec TOML text; ``origin`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{origin}: not valid TOML: {error}.") from None
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_describe(origin, error, data)) from None


def _describe(origin: str, error: ValidationError, data: dict[str, Any]) -> str:
    lines = []
    model: type[BaseModel]
    # unknown keys first: a misspelt key is often why a required one is "missing"
    for item in sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden"):
        loc = list(item["loc"])
        where, model = "top level", ExperimentSpec
        if len(loc) >= 2 and loc[0] == "runs" and isinstance(loc[1], int):
            index = loc[1]
            runs = data.get("runs")
            run = runs[index] if isinstance(runs, list) and index < len(runs) else {}
            analysis = run.get("analysis") if isinstance(run, dict) else None
            where = f"run {index + 1}" + (f" ({analysis!r})" if analysis else "")
            model, loc = RunSpec, loc[2:]
        if item["type"] == "extra_forbidden" and len(loc) == 1:
            lines.append(f"{where}, key {loc[0]!r}: {_unknown_key(str(loc[0]), model)}")
            continue
        field = ".".join(str(p) for p in loc) or "(table)"
        lines.append(f"{where}, field {field!r}: {_message(item)}")
    return f"{origin}: " + "; ".join(lines)


def _unknown_key(key: str, model: type[BaseModel]) -> str:
    """A key a spec table does not take: the closest allowed one, and all of them."""
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? Allowed" if close else "allowed"
    return f"unknown; {hint}: {', '.join(allowed)}"


def _message(item: Any) -> str:
    kind, msg = item["type"], str(item["msg"])
    if kind == "extra_forbidden":
        return "unknown key; check its spelling"
    if kind == "missing":
        return "required but missing"
    if kind == "value_error" and "error" in item.get("ctx", {}):
        msg = str(item["ctx"]["error"])  # our own validator's words, without "Value error, "
    value = item.get("input")
    if isinstance(value, dict | list):  # too long to repeat; the field names it
        return msg
    return f"{msg} (got {value!r})"


def plan_tasks(spec: ExperimentSpec, *, origin: str = "<spec>") -> list[Task]:
    """Expand sweeps and validate every run's config against its analysis's ``Config``."""
    from interplab.core.fingerprints import input_fingerprints
    from interplab.core.registry import get_analysis

    tasks: list[Task] = []
    seen: dict[str, str] = {}
    named: dict[str, str] = {}  # explicit run name -> the run that has it
    _check_device(spec.device, f"{origin}: top level")
    for index, run in enumerate(spec.runs, 1):
        where = f"{origin}: run {index} ({run.analysis!r})"
        if run.device is not None:
            _check_device(run.device, where)
        if run.name is not None:
            if run.name in named:
                raise SpecError(
                    f"{where}, field 'name': {run.name!r} is also the name of {named[run.name]}; "
                    "give the runs distinct names (a name labels its run's rows in tables)."
                )
            named[run.name] = f"run {index} ({run.analysis!r})"
        try:
            analysis = get_analysis(run.analysis)
        except InterplabError as error:
            raise SpecError(f"{where}, field 'analysis': {error}") from None
        fields = analysis.Config.model_fields
        for key in run.sweep:
            if key != "seed" and key not in fields:
                raise SpecError(
                    f"{where}, field 'sweep.{key}': {run.analysis!r} has no config field {key!r}; "
                    f"its fields are {sorted(fields)}."
                )
            if key in run.config:
                raise SpecError(
                    f"{where}, field 'sweep.{key}': {key!r} is set in both [runs.config] and "
                    "[runs.sweep]; keep one."
                )
        for point in _grid(run.sweep):
            default_seed = run.seed if run.seed is not None else spec.seed
            seed = point.get("seed", default_seed)
            values = {k: v for k, v in point.items() if k != "seed"}
            if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
                raise SpecError(f"{where}, field 'sweep.seed': {seed!r} is not an integer seed.")
            raw = {**run.config, **values}
            try:
                config = analysis.Config.model_validate(raw)
            except ValidationError as error:
                details = "; ".join(
                    f"field 'config.{'.'.join(str(p) for p in e['loc'])}': "
                    + (_unknown_field(e, run.analysis, fields) if e["type"] == "extra_forbidden"
                       else _message(e))
                    for e in error.errors()
                )  # fmt: skip
                raise SpecError(f"{where}{_point_label(point)}: {details}") from None
            params = config.model_dump(mode="json")
            identity = {"experiment": spec.name, "analysis": run.analysis, "config": params,
                        "seed": seed}  # fmt: skip
            try:
                inputs = input_fingerprints(config)
            except InterplabError as error:
                raise SpecError(f"{where}{_point_label(point)}, config {error}") from None
            if inputs:  # changed input files give a new run id (interplab.core.fingerprints)
                identity["inputs"] = inputs
            run_id = digest_json(identity)[:16]
            if run_id in seen:
                raise SpecError(
                    f"{where}{_point_label(point)} repeats {seen[run_id]} exactly (same analysis, "
                    "config and seed); remove one or give them different seeds."
                )
            label = (run.name or run.analysis) + _point_label(point, short=True)
            seen[run_id] = f"run {index}{_point_label(point)}"
            tasks.append(
                Task(
                    run_id=run_id,
                    label=label,
                    analysis=run.analysis,
                    package=analysis.package(),
                    config=params,
                    seed=seed,
                    device=run.device or spec.device,
                    tags=tuple(dict.fromkeys((*spec.tags, *run.tags))),
                    experiment=spec.name,
                )
            )
    return tasks


def _check_device(device: str, where: str) -> None:
    """The device string's syntax only: whether the hardware is there is known when it runs."""
    from interplab.core.device import check_device_name  # no torch: planning stays fast

    try:
        check_device_name(device)
    except ConfigError as error:
        raise SpecError(f"{where}, field 'device': {error}") from None


def _unknown_field(item: Any, analysis: str, fields: Mapping[str, Any]) -> str:
    """An unknown config key: the analysis's fields, and the closest one."""
    close = difflib.get_close_matches(str(item["loc"][0]), list(fields), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    key = item["loc"][0]
    return f"{analysis!r} has no config field {key!r}.{hint} Its fields are {sorted(fields)}."


def _grid(sweep: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not sweep:
        return [{}]
    keys = list(sweep)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*sweep.values())]


def _point_label(point: dict[str, Any], short: bool = False) -> str:
    if not point:
        return ""
    inner = ",".join(f"{k}={v}" for k, v in point.items())
    return f"[{inner}]" if short else f" (sweep point {inner})"
