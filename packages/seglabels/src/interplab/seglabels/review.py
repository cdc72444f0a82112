"""Review a dataset: ranked CSV of images by label quality and a self-contained HTML gallery."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from interplab.core.errors import ConfigError

__all__ = ["score_dataset"]


def _load_labels(path: Path) -> tuple[np.ndarray, list[str]]:
    from interplab.seglabels.data.folders import read_mask

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise ConfigError(f"the labels folder {str(path)!r} holds no .png masks.")
        return np.stack([read_mask(p) for p in files]), [p.stem for p in files]
    if path.suffix.lower() in (".npy", ".npz"):
        loaded = np.load(path)
        if path.suffix.lower() == ".npz":
            keys = list(loaded.keys())
            key = "labels" if "labels" in keys else keys[0] if len(keys) == 1 else None
            if key is None:
                raise ConfigError(f"{str(path)!r} holds {keys}; name the array 'labels'.")
            loaded = loaded[key]
        array = np.asarray(loaded)
        if array.ndim != 3:
            raise ConfigError(f"labels in {str(path)!r} have shape {array.shape}; need (N, H, W).")
        return array.astype(np.int64), [f"{i:05d}" for i in range(len(array))]
    raise ConfigError(
        f"labels {str(path)!r} must be a folder of PNG masks or a .npy/.npz array (N, H, W)."
    )


def _load_images(folder: Path | None, names: list[str]) -> np.ndarray | None:
    if folder is None:
        return None
    from PIL import Image

    images = []
    for name in names:
        found = [
            p for p in folder.glob(f"{name}.*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")
        ]
        if not found:
            raise ConfigError(
                f"no image named {name!r} in {str(folder)!r} for the mask of that name."
            )
        rgb = np.asarray(Image.open(found[0]).convert("RGB"), dtype=np.float32) / 255.0
        images.append(rgb.transpose(2, 0, 1))
    return np.stack(images)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _panels(
    image: np.ndarray | None, labels: np.ndarray, probs: np.ndarray, issues: np.ndarray
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interplab.seglabels.plots import class_colours

    colours = class_colours(probs.shape[0])
    given = np.take_along_axis(probs, labels[None], axis=0)[0]
    heat = np.where(issues, 1.0, 0.35 * (1.0 - given))
    panels = [("given mask", colours[labels]), ("predicted", colours[probs.argmax(axis=0)]),
              ("pixel issues", heat)]  # fmt: skip
    if image is not None:
        panels.insert(0, ("image", image.transpose(1, 2, 0)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.4))
    for ax, (title, panel) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.imshow(panel, vmin=0, vmax=1, cmap="magma", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


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
        top: how many of the lowest-scoring images the gallery shows.

    Returns:
        (ranking path, gallery path, ranking rows (rank, name, score, flagged pixels)).
    """
    from interplab.seglabels.data.folders import load_pred_probs
    from interplab.seglabels.issues import find_label_issues
    from interplab.seglabels.scores import image_scores

    label_array, names = _load_labels(Path(labels))
    probs = load_pred_probs(Path(pred_probs))
    scores = image_scores(
        label_array, probs, method=method, ignore_index=ignore_index, progress=True
    )
    issues = find_label_issues(label_array, probs, ignore_index=ignore_index, progress=True)
    flagged = issues.reshape(len(issues), -1).sum(axis=1)
    order = np.argsort(scores, kind="mergesort")
    rows = [
        (rank, names[i], f"{scores[i]:.6g}", int(flagged[i])) for rank, i in enumerate(order, 1)
    ]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    ranking = folder / "ranking.csv"
    with ranking.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "image", "score", "flagged_pixels"])
        writer.writerows(rows)
    pictures = _load_images(images, names)
    cards = []
    for rank, i in enumerate(order[:top], 1):
        image = None if pictures is None else pictures[i]
        uri = _png(_panels(image, label_array[i], np.asarray(probs[i]), issues[i]))
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
