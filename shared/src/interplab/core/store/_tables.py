"""The store's tables (SQLAlchemy Core).

``runs`` holds one row per record: the full record JSON plus indexed columns for queries.
``metrics`` and ``params`` are long-format copies of the record's metrics and flattened params,
so that metric filters and DataFrames are SQL, not JSON parsing. ``tags`` is one row per tag.
The record JSON in ``runs`` is the source of truth; the other tables are derived from it.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["metadata", "metrics", "params", "runs", "tags"]

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("run_id", String(200), nullable=False, index=True),
    Column("package", String(64), nullable=False, index=True),
    Column("analysis", String(200), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("experiment", String(200), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("schema_version", Integer, nullable=False),
    Column("record_json", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("record_id", String(200), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Float),
    Column("unit", String(32), nullable=False, default=""),
    Column("higher_is_better", Boolean),
    Index("ix_metrics_key_value", "key", "value"),
)

params = Table(
    "params",
    metadata,
    Column("record_id", String(200), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(1000), primary_key=True),
    Column("value_json", Text, nullable=False),
    Index("ix_params_key", "key"),
)

tags = Table(
    "tags",
    metadata,
    Column("record_id", String(200), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Index("ix_tags_tag", "tag"),
)
