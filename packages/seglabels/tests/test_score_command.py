import csv
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
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
