from html.parser import HTMLParser
from pathlib import Path

from interplab.core.cache import Cache
from interplab.core.records import Artifact, ExperimentRecord, Metric
from interplab.core.report import build_report, render_report
from interplab.core.store import Store

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PNG = (  # a valid 1x1 PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    return collector


def record(i: int, **over: object) -> ExperimentRecord:
    base: dict[str, object] = {
        "id": f"rec-{i}",
        "run_id": f"run-{i}",
        "package": "core",
        "analysis": "core.selftest",
        "params": {"n_samples": 10**i},
        "metrics": {
            "core.pi_abs_error": Metric(value=1.0 / (i + 1), higher_is_better=False),
            "core.pi_estimate": Metric(value=3.0 + i / 100),
        },
        "experiment": "exp",
    }
    base.update(over)
    return ExperimentRecord.model_validate(base)


def test_hostile_strings_are_shown_as_text(tmp_path: Path) -> None:
    evil = record(
        1,
        id=f"rec-{HOSTILE}",
        experiment=HOSTILE,
        tags=(HOSTILE,),
        params={"note": HOSTILE, "n_samples": 10},
        error=HOSTILE,
        status="failed",
        metrics={"core.x": Metric(value=1.0, unit="<b onclick=x>u</b>", description=HOSTILE)},
    )
    html = render_report([evil, record(2)], source=HOSTILE)
    parsed = parse(html)
    assert "script" not in parsed.tags
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert HOSTILE not in html
    text = "".join(parsed.text)
    assert text.count(HOSTILE) >= 5, "the hostile string is shown, as text"


def test_report_groups_by_analysis_and_embeds_figures(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    sha = cache.put_blob(PNG)
    artifact = Artifact(sha256=sha, media_type="image/png", size_bytes=len(PNG), title="fig-one")
    records = [record(i, artifacts={"fig": artifact}) for i in range(4)]
    other = record(9, analysis="mips.benchmark", package="mips", run_id="run-9")
    store = Store(f"sqlite:///{tmp_path}/s.db")
    store.add_many([*records, other])
    path = build_report(store, cache, tmp_path / "out")
    html = path.read_text()
    parsed = parse(html)
    sections = [v for k, v in parsed.attrs if k == "id"]
    assert sections == ["a-core-selftest", "a-mips-benchmark"]
    images = [v for k, v in parsed.attrs if k == "src"]
    assert all(v and v.startswith("data:image/png;base64,") for v in images)
    # four record figures plus the automatic sweep figure (n_samples varies across 4 records)
    assert len(images) == 5
    assert "metrics against n_samples" in html
    assert ">pi_abs_error ↓<" in html and 'title="core.pi_abs_error: ' in html
    # nothing is fetched from outside the file
    assert "http://" not in html.replace("http-equiv", "") and "https://" not in html


def test_artifacts_missing_from_the_cache_are_noted_not_dropped(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    sha = cache.put_blob(PNG)
    figure = Artifact(sha256=sha, media_type="image/png", size_bytes=len(PNG), title="fig-one")
    lost = Artifact(sha256="0" * 64, media_type="text/plain", size_bytes=3, title="program")
    html = render_report([record(1, artifacts={"fig": figure, "prog": lost})], cache=cache)
    text = " ".join("".join(parse(html).text).split())
    assert "1 artifact(s) missing from the cache: program · rec-1." in text
    assert html.count("data:image/png") == 1  # the figure that is there is shown


def test_report_filters_and_empty_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/s.db")
    empty = build_report(store, None, tmp_path / "a").read_text()
    assert "no matching records" in empty
    store.add_many([record(1), record(2, experiment="other", run_id="r2")])
    html = build_report(store, None, tmp_path / "b", experiment="other").read_text()
    assert "rec-2" in html and "rec-1" not in html


def test_small_text_artifacts_such_as_programs_are_shown_escaped(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    program = f"def program(seq):\n    return [x < 1 for x in seq]  # {HOSTILE}\n".encode()
    big = b"x" * 30_000

    def text(data: bytes, media_type: str, title: str) -> Artifact:
        sha = cache.put_blob(data)
        return Artifact(sha256=sha, media_type=media_type, size_bytes=len(data), title=title)

    rec = record(
        1,
        artifacts={
            "program": text(program, "text/x-python", "program"),
            "log": text(big, "text/plain", "huge log"),
            "table": text(b"a,b\n1,2\n", "text/csv", "rows"),
        },
    )
    html = render_report([rec], cache=cache)
    parsed = parse(html)
    assert "script" not in parsed.tags
    assert program.decode() in "".join(parsed.text), "the program is shown verbatim, as text"
    assert "huge log" not in html and "x" * 30_000 not in html, "large texts are not inlined"
    assert "a,b" not in html, "CSV tables are downloads, not inline text"


def test_inputs_shared_by_several_analyses_are_listed_with_links() -> None:
    model = "sha256:" + "ab" * 32
    data = "sha256:" + "cd" * 32
    sweep = record(1, analysis="robustness.layer-sweep", inputs={"model": model, "tokens": data})
    lens = record(2, analysis="robustness.logit-lens", inputs={"model": model})
    alone = record(3, analysis="mips.synthesize", inputs={"data": "sha256:" + "ef" * 32})
    html = render_report([sweep, lens, alone])
    parsed = parse(html)
    assert ("id", "shared-inputs") in parsed.attrs
    links = [v for k, v in parsed.attrs if k == "href"]
    assert "#a-robustness-layer-sweep" in links and "#a-robustness-logit-lens" in links
    table = html.split('id="shared-inputs"', 1)[1].split("</section>", 1)[0]
    assert model[:16] in table
    assert data[:16] not in table, "an input of one analysis only is not 'shared'"
    assert "ef" * 8 not in table
    no_sharing = render_report([sweep, alone])
    assert 'id="shared-inputs"' not in no_sharing


def test_report_into_a_path_that_cannot_be_written(tmp_path: Path) -> None:
    import pytest

    from interplab.core.errors import StoreError

    blocker = tmp_path / "afile"
    blocker.write_text("")
    store = Store(f"sqlite:///{tmp_path}/store.db")
    with pytest.raises(StoreError, match=r"cannot write the report into .*afile' is a file"):
        build_report(store, None, blocker / "sub")
    assert blocker.read_text() == ""


def test_missing_params_are_shown_as_a_dash_not_null() -> None:
    html = render_report([record(1), record(2, params={"layer": 3, "n_samples": 1})])
    assert '<td class="text">null</td>' not in html
    assert '<td class="text">–</td>' in html and '<td class="text">3</td>' in html
