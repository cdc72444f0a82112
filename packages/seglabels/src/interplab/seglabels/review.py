"""Review a dataset: ranked CSV of images by label quality and a self-contained HTML gallery."""

from __future__ import annotations

import base64
import csv
import glob
import html
import io
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from interplab.core.errors import ConfigError, MissingFileError, ShapeError
from interplab.core.paths import folder_problem

__all__ = ["ranking_csv", "ranking_rows", "score_dataset"]


def _unwritable(folder: Path, error: OSError) -> NoReturn:
    raise ConfigError(
        f"cannot write the ranking and gallery into {str(folder)!r} "
        f"({folder_problem(folder, error)}); pass --out a new or existing folder."
    ) from None


def _load_labels(path: Path) -> tuple[np.ndarray, list[str]]:
    """The labels as stored, (N, H, W) (a .npy is memory-mapped, nothing is cast), and names.

    Their dtype and values are checked by the scoring calls, like any caller's labels.
    """
    from interplab.seglabels.data.folders import read_mask

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise ConfigError(f"the labels folder {str(path)!r} holds no .png masks.")
        masks = [read_mask(p) for p in files]
        for file, mask in zip(files, masks, strict=True):
            if mask.shape != masks[0].shape:
                raise ShapeError(
                    f"mask {file.name!r} is {_size(mask.shape)} but {files[0].name!r} is "
                    f"{_size(masks[0].shape)}; all masks (and pred_probs) need one size: resize "
                    "or crop them alike."
                )
        return np.stack(masks), [p.stem for p in files]
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ConfigError(
            f"labels {str(path)!r} must be a folder of PNG masks or a .npy/.npz array (N, H, W)."
        )
    if not path.is_file():
        raise MissingFileError(
            f"labels file {str(path)!r} does not exist; pass a .npy/.npz of int (N, H, W) class "
            "ids or a folder of PNG masks."
        )
    try:
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.files)
                key = "labels" if "labels" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise ConfigError(f"{str(path)!r} holds {keys}; name the array 'labels'.")
                array = archive[key]
    except ValueError as error:  # e.g. an object array, which needs pickle
        raise ConfigError(f"cannot read labels from {str(path)!r}: {error}") from error
    if array.ndim != 3:
        raise ConfigError(f"labels in {str(path)!r} have shape {array.shape}; need (N, H, W).")
    return array, [f"{i:05d}" for i in range(len(array))]


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]} (W×H)"


def _load_images(folder: Path | None, names: list[str], size: tuple[int, int]) -> np.ndarray | None:
    """float32 (N, 3, H, W) images named like the masks, each of the masks' size ``(H, W)``."""
    if folder is None:
        return None
    from PIL import Image

    images = []
    for name in names:
        found = [
            p
            for p in folder.glob(f"{glob.escape(name)}.*")
            if p.suffix.lower() in (".png", ".jpg", ".jpeg")
        ]
        if not found:
            raise ConfigError(
                f"no image named {name!r} in {str(folder)!r} for the mask of that name."
            )
        with Image.open(found[0]) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        if rgb.shape[:2] != size:
            raise ShapeError(
                f"image {found[0].name!r} is {_size(rgb.shape)} but its mask is {_size(size)}; "
                "images and masks must have the same size."
            )
        images.append(rgb.transpose(2, 0, 1))
    return np.stack(images)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _panels(
    image: np.ndarray | None,
    labels: np.ndarray,
    probs: np.ndarray,
    issues: np.ndarray,
    ignore_index: int | None,
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interplab.seglabels.plots import class_colours, mask_panels

    given_mask, predicted, given = mask_panels(
        labels, probs, class_colours(probs.shape[0]), ignore_index
    )
    heat = np.where(issues, 1.0, 0.35 * (1.0 - given))
    panels = [("given mask", given_mask), ("predicted", predicted), ("pixel issues", heat)]
    if image is not None:
        panels.insert(0, ("image", image.transpose(1, 2, 0)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.4))
    for ax, (title, panel) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.imshow(panel, vmin=0, vmax=1, cmap="magma", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def ranking_rows(
    scores: np.ndarray, flagged: np.ndarray, names: list[str]
) -> list[tuple[int, str, str, int]]:
    """(rank, name, score, flagged pixels) of every image, lowest score first (ties by index)."""
    order = np.argsort(scores, kind="mergesort")
    return [
        (rank, names[i], f"{scores[i]:.6g}", int(flagged[i])) for rank, i in enumerate(order, 1)
    ]


def ranking_csv(rows: list[tuple[int, str, str, int]]) -> str:
    """The ranking as CSV text with a header row."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["rank", "image", "score", "flagged_pixels"])
    writer.writerows(rows)
    return text.getvalue()


def score_dataset(
    labels: Path, pred_probs: Path, *, images: Path | None = None, method: str = "softmin",
    ignore_index: int | None = None, out: Path, top: int = 24,
) -> tuple[Path, Path, list[tuple[int, str, str, int]]]:  # fmt: skip
    """Score every image, write ``out/ranking.csv`` and ``out/gallery.html``.

    Args:
        labels: a .npy/.npz of int (N, H, W), or a folder of PNG masks (sorted by name).
        pred_probs: .npy (memory-mapped) or .npz of float (N, K, H, W), same image order.
        images: optional folder of the images, matched to masks by file stem.
        method: image-score method.
        ignore_index: label value of void pixels.
        out: output folder (created).
        top: how many of the lowest-scoring images the gallery shows (≥ 0).

    Returns:
        (ranking path, gallery path, ranking rows (rank, name, score, flagged pixels)).
    """
    from interplab.seglabels.data.folders import load_pred_probs
    from interplab.seglabels.issues import find_label_issues
    from interplab.seglabels.scores import image_scores

    if top < 0:
        raise ConfigError(f"top={top} must be ≥ 0 (the number of images in the gallery).")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():  # before any work (the folder is made after)
        _unwritable(folder, FileExistsError(f"{folder} is a file"))
    label_array, names = _load_labels(Path(labels))
    probs = load_pred_probs(Path(pred_probs))
    if len(label_array) != len(probs):
        raise ShapeError(
            f"labels {str(labels)!r} hold {len(label_array)} masks but pred_probs "
            f"{str(pred_probs)!r} has {len(probs)} images; the i-th mask (in file-name order: "
            f"{names[0]!r} … {names[-1]!r}) is scored with the i-th row of pred_probs, so give "
            "both one entry per image."
        )
    pictures = _load_images(images, names, label_array.shape[1:])
    scores = image_scores(
        label_array, probs, method=method, ignore_index=ignore_index, progress=True
    )
    issues = find_label_issues(label_array, probs, ignore_index=ignore_index, progress=True)
    flagged = issues.reshape(len(issues), -1).sum(axis=1)
    order = np.argsort(scores, kind="mergesort")
    rows = ranking_rows(scores, flagged, names)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _unwritable(folder, error)
    ranking = folder / "ranking.csv"
    ranking.write_text(ranking_csv(rows), encoding="utf-8", newline="")
    cards = []
    for rank, i in enumerate(order[:top], 1):
        image = None if pictures is None else pictures[i]
        uri = _png(_panels(image, label_array[i], np.asarray(probs[i]), issues[i], ignore_index))
        cards.append(
            f'<figure><img alt="{html.escape(names[i])}" src="{uri}"><figcaption>#{rank} '
            f"{html.escape(names[i])} · {method} {scores[i]:.4f} · {int(flagged[i])} flagged "
            "pixels</figcaption></figure>"
        )
    gallery = folder / "gallery.html"
    gallery.write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\"><title>label review</title><style>body{font:14px system-ui;"
        "margin:20px} figure{margin:0 0 18px} figcaption{color:#555;font-size:12px}</style></head>"
        f"<body><h1>Images most likely mislabeled ({html.escape(method)})</h1>"
        f"<p>{len(names)} images; ranking in ranking.csv.</p>{''.join(cards)}</body></html>",
        encoding="utf-8",
    )
    return ranking, gallery, rows
