"""The benchmark's summary script, and what the README and the experiment spec claim."""

import importlib.util
import inspect
import re
from pathlib import Path

import pandas as pd

PACKAGE = Path(__file__).resolve().parents[1]


def _summarize():
    spec = importlib.util.spec_from_file_location(
        "summarize", PACKAGE / "benchmarks" / "summarize.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frame(kinds: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for seed in range(2):
        for method, auprc in (("softmin", 0.8), ("mean", 0.6)):
            row = {"param.architecture": "fpn", "param.method": method, "seglabels.auprc": auprc
                   + 0.01 * seed, "seglabels.auroc": 0.7, "seglabels.miou_clean": 0.4,
                   "seglabels.base_rate": 0.3}  # fmt: skip
            row.update({f"seglabels.auprc_{kind}": auprc for kind in kinds})
            rows.append(row)
    return pd.DataFrame(rows)


def test_summary_shows_error_types_no_seed_drew_as_missing(tmp_path: Path) -> None:
    summarize = _summarize()
    text = summarize.markdown(_frame(("drop_sky", "swap_sky_car")))  # a tiny run: 3 kinds absent
    row = next(line for line in text.splitlines() if "| softmin |" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "**0.81 ± 0.01**" and cells[3] == "**0.80 ± 0.00**"
    assert cells[4:7] == ["–", "–", "–"] and cells[7] == "**0.80 ± 0.00**"
    assert "drop_car: 0" in text
    summarize.figure(_frame(("drop_sky",)), tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 0


def test_readme_calls_cross_val_pred_probs_with_every_required_argument() -> None:
    from interplab.seglabels.models import cross_val_pred_probs

    readme = (PACKAGE / "README.md").read_text()
    call = re.search(r"`cross_val_pred_probs\(([^`]*)\)`", readme)
    assert call is not None
    required = [
        p.name
        for p in inspect.signature(cross_val_pred_probs).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    assert required and all(f"{name}=" in call.group(1) for name in required), call.group(1)


def test_spec_and_readme_give_the_same_benchmark_time() -> None:
    readme = (PACKAGE / "README.md").read_text()
    spec = (PACKAGE.parents[1] / "experiments" / "seglabels-synthetic.toml").read_text()
    measured = re.search(r"\((\d+) min on the 2-core CPU machine", readme)
    stated = re.search(r"About (\d+) min", spec)
    assert measured and stated and measured.group(1) == stated.group(1)


def test_readme_colour_claim_names_the_classifier() -> None:
    readme = " ".join((PACKAGE / "README.md").read_text().split())
    assert "Colour alone classifies only" not in readme
    assert "a nearest-centroid colour classifier labels ~40% of pixels correctly" in readme
