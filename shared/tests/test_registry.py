"""The analysis registry: entry points, conflicts, broken plugins and config field listings."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Any, Literal

import pytest
from pydantic import Field

from interplab.core.analysis import Analysis, AnalysisConfig, RunContext
from interplab.core.errors import RegistryError, UnknownAnalysisError
from interplab.core.records import ExperimentRecord
from interplab.core.registry import (
    ENTRY_POINT_GROUP,
    ConfigField,
    analysis_names,
    config_fields,
    get_analysis,
    registered_analyses,
)
from interplab.core.selftest import SelfTest

HERE = __name__  # how pytest imported this module; entry points below point into it


class FakeConfig(AnalysisConfig):
    width: int
    """How wide."""
    mode: Literal["fast", "slow"] = "fast"
    layers: list[int] = Field(default_factory=lambda: [1, 2])
    """Layers to look at."""
    scale: float | None = None


class FakeAnalysis(Analysis):
    """A fake analysis for registry tests.

    More text that is not part of the summary.
    """

    name = "fake.good"
    Config = FakeConfig

    def run(self, config: Any, ctx: RunContext) -> Iterable[ExperimentRecord]:
        return []


class MisnamedAnalysis(FakeAnalysis):
    name = "fake.other"


class NotAnAnalysis:
    name = "fake.plain"


NOT_A_CLASS = 42


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


# ------------------------------------------------------------------ the installed registry


def test_core_selftest_is_registered() -> None:
    assert get_analysis("core.selftest") is SelfTest
    assert "core.selftest" in analysis_names()
    (ep,) = [ep for ep in registered_analyses() if ep.name == "core.selftest"]
    assert ep.value == "interplab.core.selftest:SelfTest"
    assert ep.group == ENTRY_POINT_GROUP
    names = [ep.name for ep in registered_analyses()]
    assert names == sorted(names)


def test_unknown_name_lists_known_analyses_and_suggests() -> None:
    with pytest.raises(UnknownAnalysisError, match=r"'core\.selftst'") as caught:
        get_analysis("core.selftst")
    message = str(caught.value)
    assert "Did you mean 'core.selftest'?" in message
    assert f"Known analyses: {', '.join(analysis_names())}." in message
    assert not message.startswith('"')  # not quoted like a KeyError
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, RegistryError)
    assert caught.value.name == "core.selftst"
    assert "core.selftest" in caught.value.known


def test_unknown_name_without_a_close_match_has_no_hint() -> None:
    eps = [_ep("fake.good", f"{HERE}:FakeAnalysis")]
    with pytest.raises(UnknownAnalysisError, match="'zzz'") as caught:
        get_analysis("zzz", eps=eps)
    assert "Did you mean" not in str(caught.value)
    assert "Known analyses: fake.good." in str(caught.value)


# ------------------------------------------------------------------ fake entry points


def test_fake_entry_point_loads_the_class() -> None:
    eps = [_ep("fake.good", f"{HERE}:FakeAnalysis"), _ep("fake.other", f"{HERE}:Nothing")]
    assert get_analysis("fake.good", eps=eps) is FakeAnalysis
    assert analysis_names(eps) == ["fake.good", "fake.other"]
    assert FakeAnalysis.package() == "fake"
    assert FakeAnalysis.summary() == "A fake analysis for registry tests."


def test_zero_entry_points() -> None:
    assert analysis_names([]) == []
    with pytest.raises(UnknownAnalysisError, match=r"'fake\.good'.*none are installed"):
        get_analysis("fake.good", eps=[])


def test_close_match_among_fake_entry_points() -> None:
    eps = [_ep("fake.good", f"{HERE}:FakeAnalysis"), _ep("other.thing", f"{HERE}:FakeAnalysis")]
    with pytest.raises(UnknownAnalysisError, match=r"'fake\.goood'\. Did you mean 'fake\.good'\?"):
        get_analysis("fake.goood", eps=eps)


def test_two_entry_points_with_one_name_conflict() -> None:
    first, second = f"{HERE}:FakeAnalysis", "somewhere.else:FakeAnalysis"
    eps = [_ep("fake.good", first), _ep("fake.good", second)]
    with pytest.raises(
        RegistryError,
        match=rf"'fake\.good' is registered more than once: {re.escape(first)} "
        rf"\(from unknown distribution\), {re.escape(second)} \(from unknown distribution\)",
    ):
        get_analysis("fake.good", eps=eps)
    assert analysis_names(eps) == ["fake.good"]


def test_entry_point_whose_import_fails() -> None:
    eps = [_ep("fake.broken", "interplab_no_such_module_xyz:Analysis")]
    with pytest.raises(
        RegistryError,
        match=r"'fake\.broken' is registered as 'interplab_no_such_module_xyz:Analysis' .*"
        r"importing it failed: ModuleNotFoundError: .*'interplab_no_such_module_xyz'",
    ) as caught:
        get_analysis("fake.broken", eps=eps)
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_entry_point_naming_a_missing_attribute() -> None:
    eps = [_ep("fake.missing", f"{HERE}:DoesNotExist")]
    with pytest.raises(RegistryError, match=r"importing it failed: AttributeError: .*DoesNotExist"):
        get_analysis("fake.missing", eps=eps)


@pytest.mark.parametrize("target", ["NotAnAnalysis", "NOT_A_CLASS"])
def test_entry_point_to_a_non_analysis(target: str) -> None:
    value = f"{HERE}:{target}"
    eps = [_ep("fake.plain", value)]
    with pytest.raises(
        RegistryError,
        match=rf"'fake\.plain' points to {re.escape(repr(value))}, which is not a subclass of "
        r"interplab\.core\.analysis\.Analysis",
    ):
        get_analysis("fake.plain", eps=eps)


def test_class_name_mismatch() -> None:
    value = f"{HERE}:MisnamedAnalysis"
    eps = [_ep("fake.good", value)]
    with pytest.raises(
        RegistryError,
        match=rf"{re.escape(repr(value))} is registered as 'fake\.good' but its class says "
        r"name='fake\.other'",
    ):
        get_analysis("fake.good", eps=eps)


# ------------------------------------------------------------------ config fields


def test_config_fields_of_selftest() -> None:
    fields = {f.name: f for f in config_fields(SelfTest)}
    assert list(fields) == ["n_samples", "n_chunks", "sleep_s", "fail_with"]
    assert fields["n_samples"] == ConfigField(
        name="n_samples",
        type="int",
        default=100_000,
        required=False,
        help="Monte Carlo points used to estimate pi.",
    )
    assert fields["sleep_s"].type == "float"
    assert fields["sleep_s"].default == 0.0
    assert fields["fail_with"].type == "Literal['nothing', 'error']"
    assert fields["fail_with"].default == "nothing"


def test_config_fields_required_factory_and_generic_types() -> None:
    fields = {f.name: f for f in config_fields(FakeAnalysis)}
    assert fields["width"] == ConfigField("width", "int", None, True, "How wide.")
    assert fields["mode"] == ConfigField("mode", "Literal['fast', 'slow']", "fast", False, "")
    assert fields["layers"] == ConfigField(
        "layers", "list[int]", [1, 2], False, "Layers to look at."
    )
    assert fields["scale"] == ConfigField("scale", "float | None", None, False, "")
