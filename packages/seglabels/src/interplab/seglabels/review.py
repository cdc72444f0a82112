"""Review a dataset: ranked CSV of images by label quality and a self-contained HTML gallery."""

from __future__ import annotations

import base64
import csv
import glob
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from interplab.core.errors import ConfigError, MissingFileError, ShapeError
from interplab.core.paths import folder_problem

__all__ = [
    "Review", "label_agreement", "pairing_agreement", "pairing_note", "pairing_warning",
    "parse_params",
    "ranking_csv", "ranking_rows", "score_dataset",
]  # fmt: skip

Row = tuple[int, int, str, str, str, int]
"""(rank, pred_probs row, image name, mask file, score, flagged pixels) of one image."""
AGREEMENT_FLOOR = 0.5
"""Below this agreement of the median image, :func:`pairing_warning` warns."""
SHIFT_MARGIN = 0.05
""":func:`pairing_warning` warns unless masks agree with their own row by this much more than
with the next image's row."""
_SHOWN_FILES = 5


@dataclass(frozen=True)
class Review:
    """What :func:`score_dataset` wrote and found."""

    ranking: Path
    gallery: Path
    rows: list[Row]
    """Every image, lowest score first."""
    pairing: str
    """Which mask row i of pred_probs is scored with (:func:`pairing_note`)."""
    warning: str | None
    """:func:`pairing_warning`: the model mostly disagrees with the masks; else None."""


def _unwritable(folder: Path, error: OSError) -> NoReturn:
    raise ConfigError(
        f"cannot write the ranking and gallery into {str(folder)!r} "
        f"({folder_problem(folder, error)}); pass --out a new or existing folder."
    ) from None


def _load_labels(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """The labels as stored, (N, H, W) (a .npy is memory-mapped, nothing is cast), names, files.

    A folder's masks come in file-name order (:func:`~interplab.seglabels.data.mask_files`);
    ``files`` are their file names (empty for an array). Their dtype and values are checked by
    the scoring calls, like any caller's labels.
    """
    suffix = path.suffix.lower()
    if not path.exists():
        raise MissingFileError(
            f"labels {'file' if suffix in ('.npy', '.npz') else 'folder'} {str(path)!r} does not "
            "exist; pass a folder of PNG masks or a .npy/.npz of int (N, H, W) class ids."
        )
    if path.is_dir():
        return _load_mask_folder(path)
    if suffix not in (".npy", ".npz"):
        raise ConfigError(
            f"labels {str(path)!r} must be a folder of PNG masks or a .npy/.npz array (N, H, W)."
        )
    array = _read_label_array(path)
    if array.ndim != 3:
        raise ConfigError(f"labels in {str(path)!r} have shape {array.shape}; need (N, H, W).")
    return array, [f"{i:05d}" for i in range(len(array))], []


def _load_mask_folder(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    from interplab.seglabels.data.folders import mask_files, read_mask

    files = mask_files(path)
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
    return np.stack(masks), [p.stem for p in files], [p.name for p in files]


def _read_label_array(path: Path) -> np.ndarray:
    """The array of a .npy (memory-mapped) or .npz (key ``labels``, or its only array)."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if "labels" in keys or len(keys) == 1:
                return archive["labels" if "labels" in keys else keys[0]]
    except ValueError as error:  # e.g. an object array, which needs pickle
        raise ConfigError(f"cannot read labels from {str(path)!r}: {error}") from error
    raise ConfigError(
        f"labels file {str(path)!r} holds arrays {keys} and none is named 'labels'; save the "
        "masks with np.savez(path, labels=masks), or keep a single array in the file."
    )


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}×{shape[0]} (W×H)"


def _load_images(folder: Path | None, names: list[str], size: tuple[int, int]) -> np.ndarray | None:
    """float32 (N, 3, H, W) images named like the masks, each of the masks' size ``(H, W)``."""
    if folder is None:
        return None
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise MissingFileError(
            f"the images folder {str(folder)!r} {what}; pass the folder of the images named like "
            f"the masks (e.g. {names[0]}.png), or leave out --images."
        )
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
    scores: np.ndarray, flagged: np.ndarray, names: list[str], files: Sequence[str] = ()
) -> list[Row]:
    """(rank, pred_probs row, name, mask file, score, flagged pixels) of every image.

    Lowest score first (ties by index; NaN scores, all pixels ignored, last). ``files``: the
    mask file of each image (empty for array labels).
    """
    order = np.argsort(scores, kind="mergesort")
    return [
        (rank, int(i), names[i], files[i] if files else "", f"{scores[i]:.6g}", int(flagged[i]))
        for rank, i in enumerate(order, 1)
    ]


def ranking_csv(rows: list[Row]) -> str:
    """The ranking as CSV text with a header row."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["rank", "pred_probs_row", "image", "mask_file", "score", "flagged_pixels"])
    writer.writerows(rows)
    return text.getvalue()


def parse_params(items: Sequence[str]) -> dict[str, int | float]:
    """Method parameters from ``--param KEY=VALUE`` options, the values as numbers.

    ``["q=5", "temperature=0.05"]`` gives ``{"q": 5, "temperature": 0.05}``.

    Raises:
        ConfigError: an item that is not KEY=VALUE, a key given twice, or a value that is not a
            number.
    """
    params: dict[str, int | float] = {}
    for item in items:
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key.isidentifier():
            raise ConfigError(
                f"--param {item!r} is not KEY=VALUE; pass e.g. --param q=5 (percentile), "
                "--param temperature=0.05 (softmin) or --param threshold=0.3 (below_threshold)."
            )
        if key in params:
            raise ConfigError(
                f"--param {key}= is given twice ({key}={params[key]!r} and {item!r}); give it once."
            )
        params[key] = _number(item, key, value)
    return params


def _number(item: str, key: str, value: str) -> int | float:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise ConfigError(
            f"--param {item!r}: {value!r} is not a number; method parameters are numbers, e.g. "
            f"--param {key}=0.5."
        ) from None


def pairing_note(files: Sequence[str], labels: Path) -> str:
    """Which mask row i of pred_probs is scored with, for the user to check."""
    if not files:
        return f"pred_probs row i ↔ labels[i] of {str(labels)!r}."
    shown = ", ".join(files[:_SHOWN_FILES])
    more = f", … (first {_SHOWN_FILES} of {len(files)})" if len(files) > _SHOWN_FILES else ""
    return f"pred_probs row i ↔ i-th mask in file-name order: {shown}{more}"


def label_agreement(
    labels: Any, pred_probs: Any, *, ignore_index: int | None = None, pixels: int = 4096,
    batch_size: int = 64, shift: int = 0,
) -> np.ndarray:  # fmt: skip
    """Per image, how often the predicted class (argmax over K) is the given label.

    Cheap: one argmax over a strided grid of about ``pixels`` pixels per image (every s-th row
    and column), not over every pixel.

    Args:
        labels: int (N, H, W) (numpy, torch or memmap).
        pred_probs: float (N, K, H, W).
        ignore_index: label value of pixels to leave out.
        pixels: about how many pixels of each image to look at.
        batch_size: images read at a time.
        shift: compare mask i with pred_probs row ``(i + shift) mod N`` (0: the given pairing;
            1: a deliberately wrong one, the chance level of this dataset's layouts).

    Returns:
        float64 (N,) in [0, 1]: the fraction of the image's sampled, labelled pixels whose
        predicted class is their label; NaN where no sampled pixel is labelled.
    """
    given, predicted = _sampled_maps(labels, pred_probs, pixels, batch_size)  # (N, P') each
    return _agreement(given, predicted, ignore_index, shift)


def pairing_agreement(
    labels: Any, pred_probs: Any, *, ignore_index: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`label_agreement` with ``shift`` 0 and 1 (for :func:`pairing_warning`), one read."""
    given, predicted = _sampled_maps(labels, pred_probs, 4096, 64)
    own = _agreement(given, predicted, ignore_index, 0)
    return own, _agreement(given, predicted, ignore_index, 1)


def _agreement(
    given: np.ndarray, predicted: np.ndarray, ignore_index: int | None, shift: int
) -> np.ndarray:
    """float64 (N,): per mask i, the share of its counted pixels where row i + shift agrees."""
    predicted = np.roll(predicted, -shift, axis=0) if shift else predicted
    counted = np.ones(given.shape, bool) if ignore_index is None else given != ignore_index
    agree = (predicted == given) & counted
    total = counted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, agree.sum(axis=1) / total, np.nan)


def _sampled_maps(
    labels: Any, pred_probs: Any, pixels: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """int32 (N, P') given labels and predicted classes on a strided grid of ~``pixels``."""
    from interplab.seglabels.inputs import check_inputs, to_numpy

    n, _, h, w = check_inputs(labels, pred_probs)
    step = max(1, math.isqrt(h * w // max(1, pixels)))
    given, predicted = [], []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        given.append(to_numpy(labels[start:stop, ::step, ::step]).reshape(stop - start, -1))
        argmax = to_numpy(pred_probs[start:stop, :, ::step, ::step]).argmax(axis=1)
        predicted.append(argmax.reshape(stop - start, -1))
    return np.concatenate(given).astype(np.int32), np.concatenate(predicted).astype(np.int32)


def pairing_warning(
    agreement: np.ndarray, files: Sequence[str], labels: Path, shifted: np.ndarray | None = None
) -> str | None:
    """A warning if the rows of pred_probs look paired with the wrong masks, else None.

    Two signs, on the median image: the model's predicted class is the given label on fewer
    than :data:`AGREEMENT_FLOOR` of its pixels (wrong order, or a poor model); or each mask
    agrees with its own row hardly more (:data:`SHIFT_MARGIN`) than with the next image's row
    (``shifted``), which is what a wrong order looks like even when all images look alike.

    Args:
        agreement: float (N,), from :func:`label_agreement` (NaN: no labelled pixel).
        files: the mask file names in pairing order (empty for array labels).
        labels: where the labels came from.
        shifted: float (N,), :func:`label_agreement` with ``shift=1`` (None: not checked).
    """
    scored = agreement[np.isfinite(agreement)]
    if not len(scored):
        return None
    median = float(np.median(scored))
    chance = shifted[np.isfinite(shifted)] if shifted is not None and len(agreement) > 2 else []
    chance_median = float(np.median(chance)) if len(chance) else None
    order = " (plain string order, not natural order)" if files else ""
    advice = f"{pairing_note(files, labels).rstrip('.')}{order}; save pred_probs in this order."
    if chance_median is not None and median < chance_median + SHIFT_MARGIN:
        return (
            f"each mask agrees with the model's predicted class (argmax over K) on {median:.0%} "
            f"of its pixels (median image), and with the NEXT image's prediction on "
            f"{chance_median:.0%}: the rows of pred_probs are probably not in the masks' order. "
            + advice
        )
    if median >= AGREEMENT_FLOOR:
        return None
    return (
        f"the model's predicted class (argmax over K) is the given label on only {median:.0%} "
        "of the pixels of the median image: the rows of pred_probs may not be in the masks' "
        f"order, or the model is poor. {advice}"
    )


def _legend(colours: np.ndarray, class_names: Sequence[str], ignore_index: int | None) -> str:
    """HTML swatches naming each class's colour in the mask panels (and void, if any)."""
    from interplab.seglabels.plots import VOID_COLOUR

    entries = list(zip(class_names, colours, strict=True))
    if ignore_index is not None:
        entries.append((f"ignored ({ignore_index})", np.asarray(VOID_COLOUR)))
    swatches = "".join(
        f'<span class="key"><span class="swatch" style="background:#'
        f'{"".join(f"{round(255 * float(c)):02x}" for c in rgb)}"></span>{html.escape(name)}</span>'
        for name, rgb in entries
    )
    return (
        f'<p class="legend">mask colours: {swatches}</p><p class="legend">pixel issues: bright '
        "= flagged by Confident Learning; elsewhere darker = more confident in the given label."
        "</p>"
    )


def _class_names(class_names: Sequence[str] | None, k: int) -> list[str]:
    if class_names is None:
        return [f"class {c}" for c in range(k)]
    if len(class_names) != k:
        raise ConfigError(
            f"{len(class_names)} class names given ({', '.join(class_names)}) but pred_probs has "
            f"K={k} classes; name every class 0..{k - 1} in order, or leave the names out."
        )
    return list(class_names)


def _gallery_html(
    method: str, cards: list[str], legend: str, n: int, unscored: list[str], warning: str | None
) -> str:
    """The self-contained gallery page (no scripts; images inlined as data URIs)."""
    notes = ""
    if warning:
        notes += f'<p class="warning">Warning: {html.escape(warning)}</p>'
    if unscored:
        shown = ", ".join(unscored[:20]) + (", …" if len(unscored) > 20 else "")
        notes += (
            f"<p>{len(unscored)} image(s) have every pixel ignored and no score; they are left "
            f"out here (last in ranking.csv): {html.escape(shown)}</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\"><title>label review</title><style>body{font:14px system-ui;"
        "margin:20px} figure{margin:0 0 18px} figcaption{color:#555;font-size:12px}"
        ".legend{font-size:12px}.key{margin-right:10px;white-space:nowrap}.swatch{display:"
        "inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle;border:1px "
        "solid #999}.warning{color:#8a5300;background:#fff6dc;padding:6px}</style></head>"
        f"<body><h1>Images most likely mislabeled ({html.escape(method)})</h1>{notes}"
        f"<p>{n} images; ranking in ranking.csv.</p>{legend}{''.join(cards)}</body></html>"
    )


def _describe(method: str, params: dict[str, Any]) -> str:
    """``percentile (q=5)``: the method with its parameters."""
    given = ", ".join(f"{key}={value}" for key, value in params.items())
    return f"{method} ({given})" if given else method


def score_dataset(
    labels: Path, pred_probs: Path, *, images: Path | None = None, method: str = "softmin",
    params: dict[str, Any] | None = None, ignore_index: int | None = None, out: Path,
    top: int = 24, class_names: Sequence[str] | None = None,
) -> Review:  # fmt: skip
    """Score every image, write ``out/ranking.csv`` and ``out/gallery.html``.

    Row i of ``pred_probs`` is scored with mask i: for a folder, the i-th mask in file-name
    order (``sorted(folder.glob("*.png"))``: ``street_1, street_10, street_2``), which
    :attr:`Review.pairing` states and :attr:`Review.warning` questions if the model mostly
    disagrees with the masks.

    Args:
        labels: a .npy/.npz of int (N, H, W), or a folder of PNG masks (in file-name order).
        pred_probs: .npy (memory-mapped) or .npz of float (N, K, H, W), same image order.
        images: optional folder of the images, matched to masks by file stem.
        method: image-score method.
        params: the method's parameters (e.g. ``{"q": 5}`` for ``percentile``).
        ignore_index: label value of void pixels.
        out: output folder (created).
        top: how many of the lowest-scoring images the gallery shows (≥ 0).
        class_names: names of classes 0..K-1 for the gallery's legend (default: their ids).

    Returns:
        The paths written, the ranking rows, the pairing and the warning (if any).
    """
    from interplab.seglabels.data.folders import load_pred_probs
    from interplab.seglabels.issues import find_label_issues
    from interplab.seglabels.scores import check_method, image_scores

    params = dict(params or {})
    check_method(method, params)  # before reading any data
    if top < 0:
        raise ConfigError(f"top={top} must be ≥ 0 (the number of images in the gallery).")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():  # before any work (the folder is made after)
        _unwritable(folder, FileExistsError(f"{folder} is a file"))
    label_array, names, files = _load_labels(Path(labels))
    probs = load_pred_probs(Path(pred_probs))
    if len(label_array) != len(probs):
        raise ShapeError(
            f"labels {str(labels)!r} hold {len(label_array)} masks but pred_probs "
            f"{str(pred_probs)!r} has {len(probs)} images; the i-th mask (in file-name order: "
            f"{names[0]!r} … {names[-1]!r}) is scored with the i-th row of pred_probs, so give "
            "both one entry per image."
        )
    names_k = _class_names(class_names, probs.shape[1])
    pictures = _load_images(images, names, label_array.shape[1:])
    scores = image_scores(
        label_array, probs, method=method, ignore_index=ignore_index, progress=True, **params
    )
    pooling = {"downsample": params["downsample"]} if "downsample" in params else {}
    issues = find_label_issues(
        label_array, probs, ignore_index=ignore_index, progress=True, **pooling
    )
    flagged = issues.reshape(len(issues), -1).sum(axis=1)
    agreement, shifted = pairing_agreement(label_array, probs, ignore_index=ignore_index)
    warning = pairing_warning(agreement, files, Path(labels), shifted)
    rows = ranking_rows(scores, flagged, names, files)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _unwritable(folder, error)
    ranking = folder / "ranking.csv"
    ranking.write_text(ranking_csv(rows), encoding="utf-8", newline="")
    order = np.argsort(scores, kind="mergesort")
    scored = order[np.isfinite(scores[order])]
    described = _describe(method, params)
    from interplab.seglabels.plots import class_colours

    colours = class_colours(probs.shape[1])
    cards = []
    for rank, i in enumerate(scored[:top], 1):
        image = None if pictures is None else pictures[i]
        uri = _png(_panels(image, label_array[i], np.asarray(probs[i]), issues[i], ignore_index))
        cards.append(
            f'<figure><img alt="{html.escape(names[i])}" src="{uri}"><figcaption>#{rank} '
            f"{html.escape(names[i])} (pred_probs row {i}) · {html.escape(described)} "
            f"{scores[i]:.4f} · {int(flagged[i])} flagged pixels</figcaption></figure>"
        )
    unscored = [names[i] for i in order[len(scored) :]]
    gallery = folder / "gallery.html"
    page = _gallery_html(
        described, cards, _legend(colours, names_k, ignore_index), len(names), unscored, warning
    )
    gallery.write_text(page, encoding="utf-8")
    return Review(ranking, gallery, rows, pairing_note(files, Path(labels)), warning)
