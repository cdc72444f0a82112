"""The versioned experiment-record schema (pydantic v2)."""

from interplab.core.records._format import format_value as format_value
from interplab.core.records._schema import (
    SCHEMA_VERSION as SCHEMA_VERSION,
)
from interplab.core.records._schema import (
    Artifact as Artifact,
)
from interplab.core.records._schema import (
    Environment as Environment,
)
from interplab.core.records._schema import (
    ExperimentRecord as ExperimentRecord,
)
from interplab.core.records._schema import (
    Metric as Metric,
)
from interplab.core.records._schema import (
    MetricSpec as MetricSpec,
)
from interplab.core.records._schema import (
    Status as Status,
)
from interplab.core.records._upgrade import upgrade as upgrade

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "Environment",
    "ExperimentRecord",
    "Metric",
    "MetricSpec",
    "Status",
    "format_value",
    "upgrade",
]
