"""Fixtures for interplab-core's tests: store URLs for both backends and a record factory."""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interplab.core.records import Environment, ExperimentRecord, Metric

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:54329/postgres"


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    """A SQLite store file in this test's temporary directory (created on first use)."""
    return f"sqlite:///{tmp_path}/store.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped afterwards.

    The server comes from ``INTERPLAB_TEST_POSTGRES_URL``; the test is skipped if it cannot be
    reached.
    """
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = os.environ.get("INTERPLAB_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL  # "" = unset
    libpq_url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)  # psycopg wants libpq's
    try:
        admin = psycopg.connect(libpq_url, connect_timeout=3, autocommit=True)
    except psycopg.Error as error:
        pytest.skip(
            f"PostgreSQL not reachable at {url}: {error}; .ci/run starts one "
            "(set INTERPLAB_TEST_POSTGRES_URL to use yours)"
        )
    name = f"interplab_test_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    test_url = make_url(libpq_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield test_url
    finally:
        with psycopg.connect(libpq_url, connect_timeout=3, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty store on each backend; the PostgreSQL one skips without a server."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


BASE_TIME = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
"""``created_at`` of the first record ``make_record`` builds; each next one is a minute later."""


@pytest.fixture
def make_record() -> Callable[..., ExperimentRecord]:
    """Factory of valid records: ``make_record(id="x", metrics={"core.loss": 1.0}, ...)``.

    Defaults: ids ``rec-0001``, ``rec-0002``, … (``run_id`` = ``run-<id>``), package ``core``,
    analysis ``core.selftest``, status ``completed``, ``created_at`` one minute apart from
    :data:`BASE_TIME`, two metrics, nested params. ``metrics`` values may be plain numbers
    (made into :class:`Metric` with no unit).
    """
    counter = itertools.count(1)

    def make(**overrides: Any) -> ExperimentRecord:
        n = next(counter)
        record_id = overrides.pop("id", f"rec-{n:04d}")
        package = overrides.get("package", "core")
        created = BASE_TIME + timedelta(minutes=n)
        fields: dict[str, Any] = {
            "id": record_id,
            "run_id": f"run-{record_id}",
            "package": package,
            "analysis": f"{package}.selftest",
            "status": "completed",
            "created_at": created,
            "started_at": created - timedelta(seconds=30),
            "finished_at": created,
            "params": {"seed": n, "model": {"name": "tiny", "layers": 2}, "lr": 0.01},
            "metrics": {
                f"{package}.loss": Metric(value=1.0 / n, unit="nats", higher_is_better=False),
                f"{package}.accuracy": Metric(
                    value=0.5 + n / 1000, unit="fraction", higher_is_better=True
                ),
            },
            "env": Environment(python="3.11.7", platform="linux", seed=n),
            "tags": ("test",),
        }
        fields.update(overrides)
        fields["metrics"] = {
            key: value if isinstance(value, Metric) else Metric(value=float(value))
            for key, value in fields["metrics"].items()
        }
        return ExperimentRecord(**fields)

    return make
