import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from fixtures import make_dataset
from typer.testing import CliRunner

from interplab.core.cli import app
from interplab.seglabels.data import make_street_scenes, save_folder


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_score_command_ranks_the_mislabeled_image_first(tmp_path: Path) -> None:
    scenes = make_street_scenes(5, size=64, seed=8)
    k = len(scenes.class_names)
    probs = np.full((5, k, 64, 64), 0.02 / (k - 1), dtype=np.float32)
    np.put_along_axis(probs, scenes.labels[:, None], 0.98, axis=1)
    given = scenes.labels.copy()
    given[2, 30:50, 20:44] = (given[2, 30:50, 20:44] + 3) % k  # image 2's mask is wrong
    save_folder(type(scenes)(scenes.images, given, scenes.class_names, 8), tmp_path / "data")
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "labels.npy", given)
    out = tmp_path / "review"
    for labels in (tmp_path / "data" / "masks", tmp_path / "labels.npy"):
        result = CliRunner().invoke(app, [
            "seglabels", "score", "--labels", str(labels), "--pred-probs",
            str(tmp_path / "probs.npy"), "--images", str(tmp_path / "data" / "images"),
            "--out", str(out), "--top", "3",
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader((out / "ranking.csv").read_text().splitlines()))
        assert rows[0]["image"] == "00002" and len(rows) == 5
        assert int(rows[0]["flagged_pixels"]) > 0
        page = Tags()
        page.feed((out / "gallery.html").read_text())
        assert page.tags.count("figure") == 3 and "script" not in page.tags


def test_score_command_bad_input_exits_2(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("no")
    result = CliRunner().invoke(app, [
        "seglabels", "score", "--labels", str(tmp_path / "x.txt"), "--pred-probs", "p.npy",
    ])  # fmt: skip
    assert result.exit_code == 2
    assert "must be a folder of PNG masks or a .npy/.npz array" in " ".join(result.stderr.split())


def _score(*args: str):
    return CliRunner().invoke(app, ["seglabels", "score", *args])


def test_score_command_draws_void_pixels_in_the_gallery(tmp_path: Path) -> None:
    scenes = make_street_scenes(3, size=64, seed=8)
    k = len(scenes.class_names)
    probs = np.full((3, k, 64, 64), 0.1 / (k - 1), dtype=np.float32)
    np.put_along_axis(probs, scenes.labels[:, None], 0.9, axis=1)
    given = scenes.labels.astype(np.uint8)
    given[:, :5] = 255
    np.save(tmp_path / "labels.npy", given)
    np.save(tmp_path / "probs.npy", probs)
    out = tmp_path / "review"
    result = _score(
        "--labels", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "probs.npy"),
        "--ignore-index", "255", "--out", str(out), "--top", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = Tags()
    page.feed((out / "gallery.html").read_text())
    assert page.tags.count("figure") == 3


def test_score_command_names_each_bad_input(tmp_path: Path) -> None:
    from PIL import Image

    probs = np.full((2, 3, 8, 8), 1 / 3, dtype=np.float32)
    np.save(tmp_path / "probs.npy", probs)
    floats = np.full((2, 8, 8), 1.7)
    np.save(tmp_path / "floats.npy", floats)
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(masks / "a.png")
    Image.fromarray(np.zeros((8, 6), np.uint8)).save(masks / "b.png")
    good = tmp_path / "good"
    good.mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(good / f"{name}.png")
    one = tmp_path / "one"  # a mask missing
    one.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(one / "a.png")
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(pictures / "a.png")
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(pictures / "b.png")
    p = str(tmp_path / "probs.npy")
    cases = {
        "labels file '.*nope.npy' does not exist": ("--labels", str(tmp_path / "nope.npy"),
                                                   "--pred-probs", p),
        "pred_probs file '.*nope.npy' does not exist": ("--labels", str(good),
                                                       "--pred-probs", str(tmp_path / "nope.npy")),
        "labels must be integers": ("--labels", str(tmp_path / "floats.npy"), "--pred-probs", p),
        r"mask 'b.png' is 6×8 \(W×H\) but 'a.png' is 8×8": ("--labels", str(masks),
                                                            "--pred-probs", p),
        r"image 'b.png' is 8×9 \(W×H\) but its mask is 8×8": ("--labels", str(good),
                                                             "--pred-probs", p,
                                                             "--images", str(pictures)),
        "top=-1 must be ≥ 0": ("--labels", str(good), "--pred-probs", p, "--top", "-1"),
        r"hold 1 masks but pred_probs '.*probs.npy' has 2 images; the i-th mask \(in file-name "
        r"order: 'a' … 'a'\)": ("--labels", str(one), "--pred-probs", p),
    }  # fmt: skip
    for message, args in cases.items():
        result = _score(*args, "--out", str(tmp_path / "out"))
        assert result.exit_code == 2, (message, result.output)
        assert re.search(message, " ".join(result.stderr.split())), (message, result.stderr)
    assert not (tmp_path / "out").exists()  # a failed call leaves no empty output folder
    result = _score("--labels", str(good), "--pred-probs", p, "--out", p)  # --out is a file
    assert result.exit_code == 2, result.output
    assert re.search(r"cannot write the ranking and gallery into '.*probs.npy' \('.*probs.npy' is "
                     r"a file\)", " ".join(result.stderr.split())), result.stderr  # fmt: skip
    np.testing.assert_array_equal(np.load(p), probs)  # the input is untouched


def _masks_and_images(folder: Path, labels: np.ndarray, stems: list[str]) -> None:
    from PIL import Image

    for sub in ("masks", "images"):
        (folder / sub).mkdir(parents=True)
    for stem, mask in zip(stems, labels, strict=True):
        Image.fromarray(mask.astype(np.uint8)).save(folder / "masks" / f"{stem}.png")
        Image.fromarray(np.zeros((*mask.shape, 3), np.uint8)).save(
            folder / "images" / f"{stem}.png"
        )


def test_every_entry_point_pairs_rows_with_masks_in_file_name_order(tmp_path: Path) -> None:
    from interplab.seglabels.data import load_folder

    labels, probs, _ = make_dataset(n=2, k=4, h=16, w=16, err_frac=0.0, seed=3)
    stems = ["scene-2", "scene"]  # file-name order ('-' < '.'); by stem it would be reversed
    _masks_and_images(tmp_path / "data", labels, stems)
    np.save(tmp_path / "probs.npy", probs)
    assert load_folder(tmp_path / "data")[2] == stems
    result = _score("--labels", str(tmp_path / "data" / "masks"), "--pred-probs",
                    str(tmp_path / "probs.npy"), "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pred_probs row i ↔ i-th mask in file-name order: scene-2.png, scene.png" in " ".join(
        result.stdout.split()
    )
    rows = list(csv.DictReader((tmp_path / "out" / "ranking.csv").read_text().splitlines()))
    pairs = {(r["pred_probs_row"], r["image"], r["mask_file"]) for r in rows}
    assert pairs == {("0", "scene-2", "scene-2.png"), ("1", "scene", "scene.png")}
    assert "warning" not in result.stderr  # rows and masks agree


def test_pred_probs_in_another_order_than_the_masks_gives_a_warning(tmp_path: Path) -> None:
    labels, probs, _ = make_dataset(n=12, k=5, h=32, w=32, err_frac=0.0, seed=4)
    stems = [f"street_{i}" for i in range(1, 13)]  # probs rows in natural order 1..12
    _masks_and_images(tmp_path / "data", labels, stems)
    np.save(tmp_path / "natural.npy", probs)
    file_order = sorted(range(12), key=lambda i: f"{stems[i]}.png")
    np.save(tmp_path / "by_name.npy", probs[file_order])
    args = ("--labels", str(tmp_path / "data" / "masks"), "--out", str(tmp_path / "out"))
    result = _score(*args, "--pred-probs", str(tmp_path / "natural.npy"))
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.stderr.split())
    assert re.search(r"warning: .* the rows of pred_probs are probably not in the masks' order",
                     stderr), stderr  # fmt: skip
    assert "street_1.png, street_10.png, street_11.png, street_12.png, street_2.png, …" in stderr
    assert "not in the masks&#x27; order" in (tmp_path / "out" / "gallery.html").read_text()
    result = _score(*args, "--pred-probs", str(tmp_path / "by_name.npy"))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert "masks&#x27; order" not in (tmp_path / "out" / "gallery.html").read_text()


def test_label_agreement_counts_labelled_pixels_on_a_strided_grid() -> None:
    from interplab.seglabels.review import label_agreement, pairing_warning

    labels = np.zeros((3, 8, 8), np.int64)
    probs = np.zeros((3, 2, 8, 8), np.float32)
    probs[:, 0] = 1.0  # predicts class 0 everywhere
    labels[1, :6] = 1  # image 1: 16 of 64 pixels agree
    labels[2] = 255  # image 2: all ignored
    labels[0, 0, 0] = 255
    full = label_agreement(labels, probs, ignore_index=255)
    np.testing.assert_allclose(full[:2], [1.0, 16 / 64])
    assert np.isnan(full[2])
    strided = label_agreement(labels, probs, ignore_index=255, pixels=16)  # every 2nd row, col
    np.testing.assert_allclose(strided[:2], [1.0, 4 / 16])
    assert pairing_warning(full, ["a.png", "b.png", "c.png"], Path("m")) is None  # median 0.625
    low = pairing_warning(np.array([0.1, 0.2, 0.9, np.nan]), ["a.png", "b.png"], Path("m"))
    assert low is not None and "only 20%" in low and "file-name order: a.png, b.png" in low
    shifted = label_agreement(labels, probs, ignore_index=255, shift=1)  # mask i, row i + 1
    np.testing.assert_allclose(shifted[:2], [1.0, 16 / 64])  # every row predicts class 0 alike


def test_a_wrong_order_is_caught_even_when_every_image_looks_alike() -> None:
    """Agreeing with the next image's row as much as with its own is the sign of a wrong order,
    even when the median agreement is high (similar layouts: sky on top, road below)."""
    from interplab.seglabels.review import pairing_warning

    own = np.array([0.62, 0.60, 0.64, 0.61])
    files = ["a.png", "b.png", "c.png", "d.png"]
    alike = pairing_warning(own, files, Path("m"), shifted=np.array([0.6, 0.61, 0.59, 0.6]))
    assert alike is not None and "NEXT image's prediction on 60%" in alike
    assert pairing_warning(own, files, Path("m"), shifted=np.array([0.3, 0.35, 0.3, 0.4])) is None
    assert pairing_warning(own, files, Path("m")) is None  # no shifted check: 61% passes


def test_gallery_has_a_legend_and_leaves_unscored_images_out(tmp_path: Path) -> None:
    labels, probs, _ = make_dataset(n=3, k=3, h=16, w=16, err_frac=0.0, seed=5)
    given = labels.astype(np.uint8)
    given[1] = 255  # image 1 has no labelled pixel: its score is NaN
    np.save(tmp_path / "labels.npy", given)
    np.save(tmp_path / "probs.npy", probs)
    out = tmp_path / "review"
    result = _score("--labels", str(tmp_path / "labels.npy"), "--pred-probs",
                    str(tmp_path / "probs.npy"), "--ignore-index", "255", "--out", str(out),
                    "--class-names", "sky, road,car")  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (out / "gallery.html").read_text()
    page = Tags()
    page.feed(text)
    assert page.tags.count("figure") == 2  # not the unscored image
    assert re.search(r"1 image\(s\) have every pixel ignored .*: 00001", text)
    assert all(f"</span>{name}</span>" in text for name in ("sky", "road", "car", "ignored (255)"))
    bad = _score("--labels", str(tmp_path / "labels.npy"), "--pred-probs",
                 str(tmp_path / "probs.npy"), "--out", str(out),
                 "--class-names", "sky,road")  # fmt: skip
    assert bad.exit_code == 2
    assert "2 class names given (sky, road) but pred_probs has K=3" in " ".join(bad.stderr.split())


def test_missing_inputs_and_ambiguous_archives_are_named(tmp_path: Path) -> None:
    labels, probs, _ = make_dataset(n=2, k=3, h=8, w=8, err_frac=0.0, seed=6)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    np.savez(tmp_path / "two.npz", a=labels, b=labels)
    p = str(tmp_path / "probs.npy")
    cases = {
        r"the images folder 'nowhere' does not exist; pass the folder of the images": (
            "--labels", str(tmp_path / "labels.npy"), "--pred-probs", p, "--images", "nowhere"),
        r"labels folder '.*nope' does not exist; pass a folder of PNG masks": (
            "--labels", str(tmp_path / "nope") + "/", "--pred-probs", p),
        r"^error: labels file '.*two.npz' holds arrays \['a', 'b'\] and none is named 'labels'; "
        r"save the masks with np.savez\(path, labels=masks\), or keep a single array in the "
        r"file.$": ("--labels", str(tmp_path / "two.npz"), "--pred-probs", p),
    }  # fmt: skip
    for message, args in cases.items():
        result = _score(*args, "--out", str(tmp_path / "out"))
        assert result.exit_code == 2, (message, result.output)
        assert re.search(message, " ".join(result.stderr.split())), (message, result.stderr)


def test_method_parameters_are_passed_and_checked_like_image_scores(tmp_path: Path) -> None:
    from interplab.seglabels.scores import image_scores

    labels, probs, _ = make_dataset(n=4, k=3, h=16, w=16, err_frac=0.5, seed=7)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    args = ("--labels", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "probs.npy"),
            "--out", str(tmp_path / "out"), "--method", "percentile")  # fmt: skip
    result = _score(*args, "--param", "q=50")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out" / "ranking.csv").read_text().splitlines()))
    expected = image_scores(labels, probs, method="percentile", q=50)
    got = {int(r["pred_probs_row"]): float(r["score"]) for r in rows}
    np.testing.assert_allclose([got[i] for i in range(4)], expected, rtol=1e-5)
    assert "percentile (q=50)" in (tmp_path / "out" / "gallery.html").read_text()
    cases = {
        r"q=101 must be a percentile in \[0, 100\]": ("--param", "q=101"),
        r"method='percentile' takes only q=; got \['temperature'\]": ("--param", "temperature=1"),
        r"--param 'q=abc': 'abc' is not a number": ("--param", "q=abc"),
        r"--param 'q' is not KEY=VALUE": ("--param", "q"),
        r"--param q= is given twice": ("--param", "q=1", "--param", "q=2"),
    }
    for message, extra in cases.items():
        result = _score(*args, *extra)
        assert result.exit_code == 2, (message, result.output)
        assert re.search(message, " ".join(result.stderr.split())), (message, result.stderr)
    result = _score(*args[:-2], "--method", "softmin", "--param", "temperature=0")
    assert result.exit_code == 2
    assert "temperature=0 must be > 0" in result.stderr
