"""compose.robustness-of-segmenters against independent computations, at a tiny size.

The intact out-of-fold probabilities against seglabels' ``cross_val_pred_probs``; every
intervention against fold models whose encoder stage was replaced by hand; the metrics against
numpy / scikit-learn formulas; the plugin contract; a spec through ``interplab run``.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from interplab.compose.segmenters import RobustnessOfSegmenters
from interplab.compose.segmenters_parts.sites import (
    Site,
    encoder_sites,
    fold_indices,
    fold_models,
    out_of_fold_probs,
    site_metrics,
)
from interplab.core.cache import Cache
from interplab.core.errors import ConfigError
from interplab.core.testing import check_analysis

TINY = {"n_images": 8, "size": 64, "epochs": 1, "n_folds": 2, "drop_sky": 0.4, "drop_car": 0.4}
"""8 images of 64×64, 1 epoch, 2 folds; high error rates so that both classes occur.

DeepLabV3+ runs through ``check_analysis``, FPN through the CLI (the faster of each path).
"""


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(one_thread: None) -> dict[str, Any]:
    from interplab.seglabels.corrupt import ErrorRates, inject_label_errors
    from interplab.seglabels.data import make_street_scenes

    scenes = make_street_scenes(8, size=64, seed=0)
    injected = inject_label_errors(
        scenes.labels, seed=0, rates=ErrorRates(drop_sky=0.4, drop_car=0.4)
    )
    assert 0 < injected.is_mislabeled.sum() < 8
    return {"scenes": scenes, "injected": injected, "n_classes": len(scenes.class_names)}


@pytest.fixture(scope="module")
def trained(data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fold models of the analysis (cached) and seglabels' own cross-validated probabilities."""
    from interplab.seglabels.models import SegmenterSpec, cross_val_pred_probs

    spec = SegmenterSpec(architecture="deeplabv3plus", epochs=1)
    scenes, injected = data["scenes"], data["injected"]
    models = fold_models(
        scenes.images, injected.labels, data["n_classes"], spec, n_folds=2, seed=0,
        device="cpu", cache=Cache(tmp_path_factory.mktemp("cache")), key={"data": "tiny"},
    )  # fmt: skip
    reference = cross_val_pred_probs(
        scenes.images, injected.labels, data["n_classes"], spec, n_folds=2, seed=0
    )
    return {"models": models, "reference": reference}


def test_sites_of_a_resnet18_encoder() -> None:
    from interplab.seglabels.models import SegmenterSpec, build_segmenter

    model = build_segmenter(SegmenterSpec(architecture="fpn"), 3)
    sites = encoder_sites(model)
    assert [s.label for s in sites] == [
        "intact", "delete-layer1.0", "swap-layer1.0-layer1.1", "delete-layer1.1",
        "delete-layer2.1", "delete-layer3.1", "delete-layer4.1",
    ]  # fmt: skip
    depths = [s.relative_depth for s in sites]
    assert math.isnan(depths[0])
    np.testing.assert_allclose(depths[1:], [0, 0.5 / 7, 1 / 7, 3 / 7, 5 / 7, 1])
    only = encoder_sites(model, stages=["layer3"], kinds=["delete"])
    assert [s.label for s in only] == ["intact", "delete-layer3.1"]
    assert encoder_sites(model, kinds=["swap"])[1].positions == (0, 1)
    with pytest.raises(ConfigError, match=r"no nn.Sequential stage"):
        encoder_sites(object())


def test_intact_probs_equal_seglabels_cross_validation(
    data: dict[str, Any], trained: dict[str, Any]
) -> None:
    probs = out_of_fold_probs(
        trained["models"], data["scenes"].images, Site("intact"), seed=0, device="cpu"
    )
    np.testing.assert_allclose(probs, trained["reference"], rtol=0, atol=1e-6)


def _hand_edited_probs(models: list[Any], images: np.ndarray, site: Site) -> np.ndarray:
    """Each fold model deep-copied with its stage replaced by the edited block list."""
    from torch import nn

    from interplab.seglabels.models import predict_probs

    parts = []
    folds = fold_indices(len(images), len(models), 0)
    for model, held_out in zip(models, folds, strict=True):
        edited = copy.deepcopy(model)
        blocks = list(getattr(edited.encoder, site.stage))
        if site.kind == "delete":
            blocks.pop(site.blocks[0])
        else:
            i, j = site.blocks
            blocks[i], blocks[j] = blocks[j], blocks[i]
        setattr(edited.encoder, site.stage, nn.Sequential(*blocks))
        parts.append((held_out, predict_probs(edited, images[held_out])))
    out = np.empty((len(images), *parts[0][1].shape[1:]), dtype=np.float32)
    for held_out, probs in parts:
        out[held_out] = probs
    return out


def _state(model: Any) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    return tensors, [(name, id(m)) for name, m in model.named_modules()]


def test_interventions_match_hand_edited_models_and_restore_them(
    data: dict[str, Any], trained: dict[str, Any]
) -> None:
    import torch

    models, images = trained["models"], data["scenes"].images
    before = [_state(m) for m in models]
    intact = out_of_fold_probs(models, images, Site("intact"), seed=0, device="cpu")
    for site in encoder_sites(models[0])[1:]:
        got = out_of_fold_probs(models, images, site, seed=0, device="cpu")
        want = _hand_edited_probs(models, images, site)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=site.label)
        assert np.abs(got - intact).max() > 1e-4, site.label  # the edit changed something
    for model, (tensors, modules) in zip(models, before, strict=True):
        after, names = _state(model)
        assert names == modules
        assert all(torch.equal(after[k], v) for k, v in tensors.items())
    again = out_of_fold_probs(models, images, Site("intact"), seed=0, device="cpu")
    assert np.array_equal(again, intact)


def test_metrics_equal_independent_formulas(data: dict[str, Any], trained: dict[str, Any]) -> None:
    from interplab.seglabels.evaluate import average_precision, mean_iou
    from interplab.seglabels.scores import image_scores

    sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn not installed")
    scenes, injected, k = data["scenes"], data["injected"], data["n_classes"]
    probs = trained["reference"]
    methods = ("softmin", "mean", "class_balanced_softmin")
    got = site_metrics(probs, scenes.labels, injected.labels, injected.is_mislabeled, k, methods)
    predicted = probs.argmax(axis=1)
    ious = []
    for c in range(k):
        union = ((predicted == c) | (scenes.labels == c)).sum()
        if union:
            ious.append(((predicted == c) & (scenes.labels == c)).sum() / union)
    assert got["compose.miou"] == pytest.approx(np.mean(ious), abs=1e-12)
    assert got["compose.miou"] == mean_iou(predicted, scenes.labels, k)
    for method in methods:
        scores = image_scores(injected.labels, probs, method=method)
        want = sklearn_metrics.average_precision_score(injected.is_mislabeled, -scores)
        assert got[f"compose.auprc_{method}"] == pytest.approx(want, abs=1e-12)
        assert got[f"compose.auprc_{method}"] == average_precision(scores, injected.is_mislabeled)


def test_keeps_the_contract_and_the_intact_row_is_plain_cross_validation(
    one_thread: None, data: dict[str, Any], trained: dict[str, Any], tmp_path: Path
) -> None:
    config = {**TINY, "architectures": ["deeplabv3plus"], "methods": ["softmin", "mean"]}
    records = check_analysis(RobustnessOfSegmenters, config, workdir=tmp_path)
    by_key = {r.id.removeprefix(f"{r.run_id}-"): r for r in records}
    assert list(by_key) == [
        *(f"deeplabv3plus-{s.label}" for s in encoder_sites(trained["models"][0])),
        "summary",
    ]
    scenes, injected = data["scenes"], data["injected"]
    want = site_metrics(
        trained["reference"], scenes.labels, injected.labels, injected.is_mislabeled,
        data["n_classes"], ("softmin", "mean"),
    )  # fmt: skip
    intact = by_key["deeplabv3plus-intact"]
    for key, value in want.items():
        assert intact.metrics[key].value == pytest.approx(value, abs=1e-9), key
    assert "compose.relative_depth" not in intact.metrics  # undefined: left out, not NaN
    swap = by_key["deeplabv3plus-swap-layer1.0-layer1.1"]
    assert swap.params["blocks"] == [0, 1] and swap.params["stage"] == "layer1"
    assert swap.metrics["compose.relative_depth"].value == pytest.approx(0.5 / 7)
    drop = intact.metrics["compose.miou"].value - swap.metrics["compose.miou"].value
    assert swap.metrics["compose.miou_drop"].value == pytest.approx(drop)
    summary = by_key["summary"]
    assert set(summary.artifacts) == {"depth", "methods"}
    drops = [r.metrics["compose.miou_drop"].value for r in records[1:-1]]
    assert summary.metrics["compose.max_miou_drop"].value == pytest.approx(max(drops))
    text = RobustnessOfSegmenters.console_summary(records, Cache(tmp_path / "cache"))
    assert text is not None and "AUPRC softmin" in text and "delete-layer4.1" in text


SPEC = """
name = "tiny-robustness-of-segmenters"
seed = 0
[[runs]]
analysis = "compose.robustness-of-segmenters"
name = "tiny"
[runs.config]
n_images = 8
size = 64
epochs = 1
n_folds = 2
drop_sky = 0.4
drop_car = 0.4
architectures = ["fpn"]
stages = ["layer1"]
methods = ["softmin"]
"""


def test_a_tiny_spec_runs_through_the_cli(tmp_path: Path) -> None:
    from interplab.core.store import Store

    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    exe = Path(sys.executable).with_name("interplab")
    home = tmp_path / "home"
    env = {**os.environ, "INTERPLAB_HOME": str(home), "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    for name in ("INTERPLAB_STORE", "INTERPLAB_CACHE"):
        env.pop(name, None)
    result = subprocess.run(
        [exe, "run", str(spec), "--no-report", "--no-progress"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "swap-layer1.0-layer1.1" in result.stdout  # the console summary's table
    records = Store(f"sqlite:///{home}/store.db").query(experiment="tiny-robustness-of-segmenters")
    keys = sorted(r.id.removeprefix(f"{r.run_id}-") for r in records if r.status == "completed")
    want = [
        f"fpn-{s}"
        for s in ("intact", "delete-layer1.0", "delete-layer1.1", "swap-layer1.0-layer1.1")
    ]
    assert keys == sorted([*want, "summary"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"methods": ["softmax"]}, r"unknown \['softmax'\]; choose one or more of"),
        ({"methods": []}, r"methods \[\]"),
        ({"size": 48}, r"size=48 must be a multiple of 32"),
        ({"n_images": 8, "n_folds": 9}, r"n_folds=9 exceeds n_images=8"),
        ({"architectures": ["fpn", "fpn"]}, r"names a value twice"),
        ({"architectures": ["unet"]}, r"architectures"),
        ({"stages": ["layer5"]}, r"stages"),
        ({"n_images": 4}, r"n_images"),
        ({"epoch": 3}, r"epoch"),
    ],
)
def test_bad_config_is_refused_with_the_reason(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RobustnessOfSegmenters.Config.model_validate(bad)


def test_bad_config_in_a_spec_is_a_spec_error() -> None:
    from interplab.core.errors import SpecError
    from interplab.core.specs import parse_spec, plan_tasks

    spec = parse_spec(
        'name = "x"\n[[runs]]\nanalysis = "compose.robustness-of-segmenters"\n'
        "config = {size = 40}\n"
    )
    with pytest.raises(SpecError, match=r"multiple of 32"):
        plan_tasks(spec)
