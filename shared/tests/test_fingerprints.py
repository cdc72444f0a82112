import os
from pathlib import Path

import pytest

from interplab.core import registry
from interplab.core.analysis import Analysis, AnalysisConfig
from interplab.core.errors import MissingFileError, SpecError
from interplab.core.fingerprints import fingerprint_path, input_fields, input_fingerprints
from interplab.core.specs import parse_spec, plan_tasks


class ReadsFiles(AnalysisConfig):
    data: Path
    extra: Path | None = None
    label: str = "x"


class ReadsFilesAnalysis(Analysis):
    name = "test.reads-files"
    Config = ReadsFiles


def test_path_fields_are_the_inputs() -> None:
    assert input_fields(ReadsFiles) == ("data", "extra")
    assert input_fields(AnalysisConfig) == ()


def test_a_file_fingerprint_changes_with_its_size_or_mtime_not_with_a_rewrite_of_the_same(
    tmp_path: Path,
) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"1234")
    first = fingerprint_path(f)
    assert fingerprint_path(f) == first
    stat = f.stat()
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert fingerprint_path(f) != first
    f.write_bytes(b"12345")
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint_path(f) != first  # same mtime, other size


def test_a_folder_fingerprint_sees_added_renamed_and_changed_files(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x.png").write_bytes(b"x")
    seen = {fingerprint_path(tmp_path / "d")}
    (tmp_path / "d" / "y.png").write_bytes(b"y")
    seen.add(fingerprint_path(tmp_path / "d"))
    (tmp_path / "d" / "y.png").rename(tmp_path / "d" / "z.png")
    seen.add(fingerprint_path(tmp_path / "d"))
    (tmp_path / "d" / "z.png").write_bytes(b"zz")
    seen.add(fingerprint_path(tmp_path / "d"))
    assert len(seen) == 4


def test_a_missing_input_names_the_field_and_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFileError, match=rf"field 'data': 'nope' does not exist \(relative "
                       rf"to the current directory {tmp_path}\)"):  # fmt: skip
        input_fingerprints(ReadsFiles(data=Path("nope")))
    assert input_fingerprints(ReadsFiles(data=tmp_path)).keys() == {"data"}


def _plan(text: str, monkeypatch: pytest.MonkeyPatch) -> list:
    real = registry.get_analysis
    monkeypatch.setattr(
        registry,
        "get_analysis",
        lambda name, eps=None: (
            ReadsFilesAnalysis if name == ReadsFilesAnalysis.name else real(name)
        ),
    )
    return plan_tasks(parse_spec(text), origin="spec.toml")


def test_changed_inputs_give_a_new_run_id_and_a_missing_one_is_a_spec_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data.npy"
    data.write_bytes(b"one")
    text = f"""
name = "e"
[[runs]]
analysis = "test.reads-files"
config = {{data = "{data}"}}
"""
    first = _plan(text, monkeypatch)[0].run_id
    assert _plan(text, monkeypatch)[0].run_id == first
    data.write_bytes(b"other")
    assert _plan(text, monkeypatch)[0].run_id != first
    data.unlink()
    with pytest.raises(SpecError, match=r"spec\.toml: run 1 \('test\.reads-files'\), config "
                       r"field 'data': .*data\.npy' does not exist"):  # fmt: skip
        _plan(text, monkeypatch)


def test_configs_without_paths_keep_their_run_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run id of an analysis without input paths is the digest of exactly what it was."""
    from interplab.core.hashing import digest_json

    spec = parse_spec('name = "q"\n[[runs]]\nanalysis = "core.selftest"\n')
    task = plan_tasks(spec)[0]
    expected = digest_json(
        {"experiment": "q", "analysis": "core.selftest", "config": task.config, "seed": task.seed}
    )[:16]
    assert task.run_id == expected
