"""interplab.core: the shared workbench under the research packages.

Names are imported lazily (so ``import interplab.core`` and the CLI stay fast)::

    from interplab.core import Store, Cache, ExperimentRecord, Analysis, run_spec
"""

from __future__ import annotations

from interplab.core.lazy import lazy_exports

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "Artifact",
    "Cache",
    "ExperimentRecord",
    "ExperimentSpec",
    "InterplabError",
    "Metric",
    "MetricSpec",
    "RunContext",
    "Store",
    "get_analysis",
    "load_spec",
    "resolve_device",
    "resolve_dtype",
    "run_spec",
    "seed_everything",
]

_WHERE = {
    "Analysis": "interplab.core.analysis",
    "AnalysisConfig": "interplab.core.analysis",
    "RunContext": "interplab.core.analysis",
    "Artifact": "interplab.core.records",
    "ExperimentRecord": "interplab.core.records",
    "Metric": "interplab.core.records",
    "MetricSpec": "interplab.core.records",
    "Cache": "interplab.core.cache",
    "Store": "interplab.core.store",
    "ExperimentSpec": "interplab.core.specs",
    "load_spec": "interplab.core.specs",
    "InterplabError": "interplab.core.errors",
    "get_analysis": "interplab.core.registry",
    "run_spec": "interplab.core.runners",
    "resolve_device": "interplab.core.device",
    "resolve_dtype": "interplab.core.device",
    "seed_everything": "interplab.core.device",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
