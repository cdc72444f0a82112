"""Folders of PNG images and masks, and a model's probabilities from .npy/.npz.

:func:`save_folder` and :func:`load_folder` read and write the layout ``images/<stem>.png`` +
``masks/<stem>.png`` (masks hold class ids); :func:`load_pred_probs` reads a model's
probabilities from ``.npy`` (memory-mapped) or ``.npz``.

Pairing order: image i of a folder is its i-th mask in file-name order (:func:`mask_files`:
``sorted(folder.glob("*.png"))``, so ``street_1.png, street_10.png, street_2.png``), and row i of
``pred_probs`` must hold that image's probabilities. Every entry point (``load_folder``, the
``seglabels.score`` analysis, ``interplab seglabels score``) uses this one order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interplab.core.errors import ConfigError, MissingFileError, ShapeError
from interplab.seglabels.data.scenes import StreetScenes

__all__ = ["load_folder", "load_pred_probs", "mask_files", "read_mask", "save_folder"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def save_folder(scenes: StreetScenes, folder: str | Path) -> Path:
    """Write scenes as ``folder/images/NNNNN.png`` (RGB) and ``folder/masks/NNNNN.png``.

    Masks are 8-bit single-channel PNGs holding class ids; images are rounded to 8 bits, so
    :func:`load_folder` returns them within 0.5/255 and the masks exactly.

    Args:
        scenes: The scenes to write (images (N, 3, H, W), labels (N, H, W) with ids < 256).
        folder: Destination; created if missing. Existing files of the same names are replaced.

    Returns:
        The folder as a :class:`~pathlib.Path`.
    """
    from PIL import Image

    folder = Path(folder)
    if scenes.labels.size and (scenes.labels.min() < 0 or scenes.labels.max() > 255):
        raise ConfigError(
            f"labels span [{scenes.labels.min()}, {scenes.labels.max()}]; 8-bit PNG masks hold "
            "class ids 0..255 only."
        )
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    pixels = np.rint(np.clip(scenes.images, 0.0, 1.0) * 255.0).astype(np.uint8)
    for i in range(len(scenes)):
        Image.fromarray(np.ascontiguousarray(pixels[i].transpose(1, 2, 0))).save(
            folder / "images" / f"{i:05d}.png"
        )
        Image.fromarray(scenes.labels[i].astype(np.uint8)).save(folder / "masks" / f"{i:05d}.png")
    return folder


def mask_files(folder: Path) -> list[Path]:
    """The PNG masks of ``folder`` in pairing order: sorted by file name.

    The order ``sorted(Path(folder).glob("*.png"))`` gives (``.PNG`` too): plain string order of
    the names, not natural order, so ``street_10.png`` comes before ``street_2.png`` and
    ``scene-2.png`` before ``scene.png``. Row i of ``pred_probs`` belongs to the i-th of them.
    """
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file()),
        key=lambda p: p.name,
    )


def load_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a folder of images and class-id masks, paired by file stem.

    Images come in the masks' file-name order (:func:`mask_files`), the order row i of
    ``pred_probs`` must follow.

    Layout: ``folder/images/<stem>.png`` (or ``.jpg``/``.jpeg``) and ``folder/masks/<stem>.png``.
    A mask is a single-channel PNG of class ids (mode ``L``, ``P``, ``I`` or ``1``), or an RGB(A)
    PNG whose three colour channels are equal. Colour-coded masks must be converted to ids first.

    Args:
        folder: The dataset folder.

    Returns:
        ``(images, labels, names)``: images float32 (N, 3, H, W) in [0, 1]; labels int64
        (N, H, W); names the N stems, in the masks' file-name order (:func:`mask_files`).

    Raises:
        MissingFileError: ``folder``, ``images/`` or ``masks/`` does not exist (a
            FileNotFoundError).
        ConfigError: No images, an image without a mask, a mask without an image, or a mask that
            is not single-channel class ids.
        ShapeError: A mask whose size differs from its image, or images of different sizes.
    """
    from PIL import Image

    folder = Path(folder)
    image_dir, mask_dir = folder / "images", folder / "masks"
    for path in (folder, image_dir, mask_dir):
        if not path.is_dir():
            raise MissingFileError(
                f"{str(path)!r} is not a folder; load_folder expects {str(folder)!r} to hold "
                "images/<stem>.png and masks/<stem>.png."
            )
    images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES}
    masks = {p.stem: p for p in mask_files(mask_dir)}
    if not images:
        raise ConfigError(
            f"No images in {str(image_dir)!r}: expected files ending in "
            f"{', '.join(_IMAGE_SUFFIXES)}."
        )
    if missing := sorted(set(images) - set(masks)):
        raise ConfigError(
            f"Image {images[missing[0]].name!r} has no mask: expected "
            f"{str(mask_dir / (missing[0] + '.png'))!r} ({len(missing)} image(s) lack masks)."
        )
    if orphans := sorted(set(masks) - set(images)):
        raise ConfigError(
            f"Mask {masks[orphans[0]].name!r} has no image in {str(image_dir)!r}; remove it or "
            "add the image with the same stem."
        )
    names = list(masks)  # the masks' file-name order
    image_list: list[np.ndarray] = []
    label_list: list[np.ndarray] = []
    for name in names:
        with Image.open(images[name]) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        label = read_mask(masks[name])
        if label.shape != rgb.shape[:2]:
            raise ShapeError(
                f"Mask {masks[name].name!r} is {label.shape[0]}x{label.shape[1]} (HxW) but image "
                f"{images[name].name!r} is {rgb.shape[0]}x{rgb.shape[1]}; they must match."
            )
        if image_list and rgb.shape != image_list[0].shape:
            first = image_list[0].shape
            raise ShapeError(
                f"Image {images[name].name!r} is {rgb.shape[0]}x{rgb.shape[1]} but "
                f"{images[names[0]].name!r} is {first[0]}x{first[1]}; all images must share one "
                "size (resize or crop them first)."
            )
        image_list.append(rgb)
        label_list.append(label)
    stacked = np.stack(image_list).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(stacked), np.stack(label_list), names


def read_mask(path: Path) -> np.ndarray:
    """int64 (H, W) class ids from a PNG mask (single channel, or RGB with equal channels)."""
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        if mode in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
            arr = np.asarray(im)
        elif mode in ("RGB", "RGBA", "LA"):
            rgb = np.asarray(im.convert("RGB"))
            if not (
                np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 0], rgb[..., 2])
            ):
                raise ConfigError(
                    f"Mask {path.name!r} is {mode} with unequal colour channels; masks must hold "
                    "class ids (a single channel, or three equal channels). Map colour-coded "
                    "masks to class ids first."
                )
            arr = rgb[..., 0]
        else:
            raise ConfigError(
                f"Mask {path.name!r} has PIL mode {mode!r}; use an 8- or 16-bit single-channel "
                "PNG of class ids."
            )
    return arr.astype(np.int64)


def load_pred_probs(path: str | Path) -> np.ndarray:
    """Load a model's predicted probabilities saved with numpy.

    ``.npy`` files are memory-mapped read-only (``mmap_mode="r"``), so arrays larger than memory
    can be scored in chunks. ``.npz`` archives are read into memory from the key ``pred_probs``,
    or from their only array.

    Args:
        path: A ``.npy`` or ``.npz`` file holding float (N, K, H, W) probabilities.

    Returns:
        float (N, K, H, W) (any float dtype; a read-only memmap for ``.npy``).

    Raises:
        MissingFileError: The file does not exist (a FileNotFoundError).
        ConfigError: Another suffix, an ``.npz`` without a ``pred_probs`` key and more than one
            array, or a non-float array.
        ShapeError: An array with fewer than 3 dimensions.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"pred_probs file {str(path)!r} does not exist; pass a .npy or .npz of float "
            "(N, K, H, W) probabilities."
        )
    suffix = path.suffix.lower()
    probs: np.ndarray
    if suffix == ".npy":
        probs = np.load(path, mmap_mode="r", allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if "pred_probs" in keys:
                probs = archive["pred_probs"]
            elif len(keys) == 1:
                probs = archive[keys[0]]
            else:
                raise ConfigError(
                    f"{path.name!r} holds arrays {keys} and none is named 'pred_probs'; save it "
                    "with np.savez(path, pred_probs=probs) or keep a single array."
                )
    else:
        raise ConfigError(
            f"pred_probs file {path.name!r} has suffix {path.suffix!r}; save it with np.save "
            "(.npy, memory-mapped on load) or np.savez (.npz)."
        )
    if not np.issubdtype(probs.dtype, np.floating):
        raise ConfigError(
            f"pred_probs in {path.name!r} has dtype {probs.dtype}; expected float probabilities "
            "(softmax over the class axis), e.g. float16 or float32."
        )
    if probs.ndim < 3:
        raise ShapeError(
            f"pred_probs in {path.name!r} has shape {probs.shape}; expected (N, K, H, W)."
        )
    return probs
