import csv
from pathlib import Path

import numpy as np
import pytest

from interplab.core.cache import Cache
from interplab.core.runners import run_spec
from interplab.core.specs import parse_spec
from interplab.core.store import Store
from interplab.seglabels.data import make_street_scenes, save_folder

TINY = """
name = "seg-test"
[[runs]]
analysis = "seglabels.benchmark"
[runs.config]
n_images = 16
epochs = 2
n_folds = 2
decoder_channels = 32
architectures = ["fpn"]
methods = ["softmin", "num_pixel_issues", "mean"]
gallery = 3
"""


def test_benchmark_writes_one_record_per_model_and_method(tmp_path: Path) -> None:
    url, cache_dir = f"sqlite:///{tmp_path}/s.db", tmp_path / "cache"
    summary = run_spec(parse_spec(TINY), store_url=url, cache_dir=cache_dir, show_progress=False)
    assert [o.status for o in summary.outcomes] == ["completed"], summary.outcomes
    records = Store(url).query(analysis="seglabels.benchmark")
    assert sorted(r.params["method"] for r in records) == ["mean", "num_pixel_issues", "softmin"]
    for r in records:
        assert 0 <= r.metrics["seglabels.auprc"].value <= 1
        assert r.metrics["seglabels.auprc"].higher_is_better is True
        assert 0 < r.metrics["seglabels.base_rate"].value < 1
        assert 0 <= r.metrics["seglabels.miou_clean"].value <= 1
    softmin = next(r for r in records if r.params["method"] == "softmin")
    cache = Cache(cache_dir)
    for artifact in softmin.artifacts.values():
        data = cache.read_blob(artifact.sha256)
        assert data is not None and data.startswith(b"\x89PNG")
    # a forced rerun reuses the cached cross-validated probabilities and reproduces the metrics
    before = {r.id: r.metrics["seglabels.auprc"].value for r in records}
    hits = cache.info().entries
    run_spec(parse_spec(TINY), store_url=url, cache_dir=cache_dir, force=True, show_progress=False)
    after = {r.id: r.metrics["seglabels.auprc"].value for r in Store(url).query()}
    assert after == before and cache.info().entries == hits


def test_score_a_users_folder_ranks_the_mislabeled_image_first(tmp_path: Path) -> None:
    scenes = make_street_scenes(6, size=64, seed=5)
    save_folder(scenes, tmp_path / "data")
    k = len(scenes.class_names)
    # "any model": confident, correct probabilities for the true masks ...
    probs = np.full((6, k, 64, 64), 0.02 / (k - 1), dtype=np.float32)
    np.put_along_axis(probs, scenes.labels[:, None], 0.98, axis=1)
    # ... while image 4's mask on disk had a block relabelled
    labels_on_disk = scenes.labels.copy()
    labels_on_disk[4, 40:60, 10:30] = (labels_on_disk[4, 40:60, 10:30] + 1) % k
    save_folder(type(scenes)(scenes.images, labels_on_disk, scenes.class_names, scenes.seed),
                tmp_path / "data")  # fmt: skip
    np.save(tmp_path / "probs.npy", probs)
    spec = parse_spec(f"""
name = "mine"
[[runs]]
analysis = "seglabels.score"
config = {{folder = "{tmp_path / "data"}", pred_probs = "{tmp_path / "probs.npy"}", top = 2}}
""")
    url = f"sqlite:///{tmp_path}/s.db"
    summary = run_spec(spec, store_url=url, cache_dir=tmp_path / "cache", show_progress=False)
    assert summary.outcomes[0].status == "completed", summary.outcomes[0].error
    record = Store(url).query()[0]
    ranking = Cache(tmp_path / "cache").read_blob(record.artifacts["ranking"].sha256)
    assert ranking is not None
    rows = list(csv.DictReader(ranking.decode().splitlines()))
    assert rows[0]["image"].startswith("00004") and int(rows[0]["flagged_pixels"]) > 0
    assert record.metrics["seglabels.n_images"].value == 6

    # a rerun skips the stored run while the inputs are unchanged ...
    again = run_spec(spec, store_url=url, cache_dir=tmp_path / "cache", show_progress=False)
    assert again.outcomes[0].status == "skipped"
    # ... and scores again once pred_probs is rewritten with another model's probabilities
    flipped = probs.copy()
    flipped[0] = flipped[0, ::-1]  # image 0 now disagrees with its mask everywhere
    np.save(tmp_path / "probs.npy", flipped)
    changed = run_spec(spec, store_url=url, cache_dir=tmp_path / "cache", show_progress=False)
    assert changed.outcomes[0].status == "completed", changed.outcomes[0].error
    assert changed.outcomes[0].run_id != summary.outcomes[0].run_id
    newest = Store(url).query(run_id=changed.outcomes[0].run_id)[0]
    assert newest.inputs["pred_probs"] != record.inputs["pred_probs"]
    assert newest.metrics["seglabels.min_score"].value < record.metrics["seglabels.min_score"].value


@pytest.mark.parametrize("bad", ["n_images = 2", 'architectures = ["unet"]', "n_folds = 1"])
def test_bad_benchmark_config_is_a_spec_error(bad: str) -> None:
    from interplab.core.errors import SpecError

    spec = parse_spec(
        f'name = "x"\n[[runs]]\nanalysis = "seglabels.benchmark"\nconfig = {{{bad}}}\n'
    )
    with pytest.raises(SpecError, match=r"run 1 \('seglabels\.benchmark'\): field 'config\."):
        from interplab.core.specs import plan_tasks

        plan_tasks(spec)
