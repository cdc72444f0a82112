"""The experiment store: SQLAlchemy Core over SQLite (default) or PostgreSQL."""

from interplab.core.store._files import ImportResult as ImportResult
from interplab.core.store._files import export_suffixes as export_suffixes
from interplab.core.store._filters import MetricFilter as MetricFilter
from interplab.core.store._filters import RecordFilter as RecordFilter
from interplab.core.store._store import Store as Store

__all__ = ["ImportResult", "MetricFilter", "RecordFilter", "Store", "export_suffixes"]
