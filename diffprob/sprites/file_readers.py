"""Readers of the data files :func:`~diffprob.sprites.dataset.load_sprite_data` accepts.

Each turns one layout into a :class:`~diffprob.sprites.dataset.SpriteData`, refusing what is
not diffprob data before it is loaded: an ``.npz`` written by ``SpriteData.save`` (its array
headers are read first, so an archive that would unpack to gigabytes is refused unread), the
course's ``sprites_*.npy`` with its sibling labels file, and a folder with one sub-folder of
images per class (resized to the requested size, transparency composited over white, both
recorded in ``SpriteData.notes``).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from diffprob.errors import DataError
from diffprob.sprites.dataset import COURSE_CLASSES, SpriteData
from diffprob.util.limits import check_data_bytes
from diffprob.util.validation import check_image_batch, describe_array

__all__ = ["read_npz", "read_course_npy", "read_folder", "resize_one"]


# What a damaged archive or array file raises while it is read.
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def _not_data(path: Path, why: str) -> DataError:
    return DataError(f"{str(path)!r} is not a diffprob data file ({why}); it was not loaded")


def _array_header(handle, path: Path, what: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype from an .npy header (at the handle's position); nothing else read."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version not in ((1, 0), (2, 0)):  # 3.0 (utf8 field names) is never written here
            raise ValueError(f"unsupported .npy format version {version}")
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(handle)
    except _READ_ERRORS as exc:
        raise _not_data(path, f"{what} has no readable .npy header: {str(exc)[:80]}") from None
    if dtype.hasobject:
        raise _not_data(path, f"{what} holds Python objects, which diffprob never writes")
    return shape, dtype


def _array_bytes(shape, dtype) -> int:
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


def _npy(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:
        shape, dtype = _array_header(handle, path, "it")
    check_data_bytes(_array_bytes(shape, dtype), repr(str(path)))
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise DataError(
            f"{str(path)!r}: not a readable .npy file ({type(exc).__name__}: truncated or "
            "corrupt); it was not loaded"
        ) from None


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
    # Other tools store the 0..255 codes in wider integer types; those are the same image.
    if images.dtype != np.uint8 and np.issubdtype(images.dtype, np.integer):
        if images.size == 0 or (images.min() >= 0 and images.max() <= 255):
            images = images.astype(np.uint8)
    images = check_image_batch(images, f"{where}: the images' dtype and shape")
    if images.shape[0] < 1:
        raise DataError(f"{where}: holds no images")
    return images


_NPZ_KEYS = ("images", "labels", "class_names")


def _check_npz_headers(path: Path) -> None:
    """Refuse an .npz that is not a zip of the three arrays, or that unpacks too big.

    Only the zip directory and the .npy headers of the members are read.
    """
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            if handle.read(4) == b"PK\x03\x04":  # a zip that lost its end: truncated
                raise DataError(
                    f"{str(path)!r}: not a readable .npz file (truncated or corrupt zip "
                    "archive); it was not loaded"
                )
        raise _not_data(path, "not a readable .npz archive")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            missing = sorted(set(_NPZ_KEYS) - set(members))
            if missing:
                raise DataError(
                    f"{str(path)!r}: missing keys {missing} (have {sorted(members)}); "
                    "it was not loaded"
                )
            total = 0
            for key in _NPZ_KEYS:
                with archive.open(members[key]) as handle:
                    shape, dtype = _array_header(handle, path, repr(key))
                total += _array_bytes(shape, dtype)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DataError(
            f"{str(path)!r}: not a readable .npz file ({type(exc).__name__}: truncated or "
            "corrupt); it was not loaded"
        ) from None
    check_data_bytes(total, repr(str(path)))


def read_npz(path: Path) -> SpriteData:
    _check_npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels, names = (archive[k] for k in _NPZ_KEYS)
    except _READ_ERRORS as exc:
        raise DataError(
            f"{str(path)!r}: not a readable .npz file ({type(exc).__name__}: truncated or "
            "corrupt); it was not loaded"
        ) from None
    images = _check_images(images, repr(str(path)))
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{str(path)!r}: labels must be a 1-D integer array, got {describe_array(labels)}"
        )
    if names.ndim != 1 or names.dtype.kind != "U":
        raise DataError(f"{str(path)!r}: class_names must be a 1-D array of strings")
    return _build(images, labels.astype(np.int64), tuple(names.tolist()), str(path))


def _course_labels_path(path: Path) -> Path:
    if not path.name.startswith("sprites_"):
        raise DataError(
            f"{str(path)!r}: course files are named sprites_<...>.npy, with labels in "
            "sprite_labels_nc_<...>.npy beside them"
        )
    return path.with_name("sprite_labels_nc_" + path.name[len("sprites_") :])


def read_course_npy(path: Path) -> SpriteData:
    labels_path = _course_labels_path(path)
    if not labels_path.is_file():
        raise DataError(f"{str(path)!r}: labels file {str(labels_path)!r} not found")
    images = _check_images(_npy(path), repr(str(path)))
    onehot = _npy(labels_path)
    where = repr(str(labels_path))
    if onehot.ndim != 2 or onehot.shape[1] < 1 or not np.issubdtype(onehot.dtype, np.number):
        raise DataError(
            f"{where}: labels must be a numeric one-hot (N, K) array, got {describe_array(onehot)}"
        )
    if len(onehot) != len(images):
        raise DataError(
            f"{len(images)} images in {str(path)!r} but {len(onehot)} label rows in {where}"
        )
    onehot = onehot.astype(np.float64)
    sums = onehot.sum(axis=1)
    bad = np.flatnonzero(~np.isclose(sums, 1.0) | (onehot.min(axis=1) < 0))
    if bad.size:
        raise DataError(
            f"{where}: one-hot rows must be non-negative and sum to 1; row {bad[0]} sums to "
            f"{sums[bad[0]]:g} ({bad.size} bad rows)"
        )
    k = onehot.shape[1]
    names = COURSE_CLASSES if k == len(COURSE_CLASSES) else tuple(f"class{i}" for i in range(k))
    return _build(images, onehot.argmax(axis=1).astype(np.int64), names, str(path))


def read_folder(path: Path, size: int) -> SpriteData:
    import cv2

    from diffprob.stats.io import IMAGE_EXTENSIONS, load_image

    entries = sorted(path.iterdir())
    if not entries:
        raise DataError(f"{str(path)!r}: folder is empty")
    classes = [p for p in entries if p.is_dir()]
    if not classes:
        raise DataError(
            f"{str(path)!r}: no sub-folders; put each class's images in a sub-folder named "
            "after the class"
        )
    images, labels, sizes, transparent = [], [], {}, 0
    for label, folder in enumerate(classes):
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise DataError(f"{str(folder)!r}: class folder holds no images")
        for file in files:
            image = load_image(file, alpha="ignore")
            transparent += bool(image.mask.any())
            h, w = image.shape[:2]
            sizes[(h, w)] = sizes.get((h, w), 0) + 1
            images.append(resize_one(image.data, size, cv2))
            labels.append(label)
    notes = [
        f"resized {k} image(s) from {h}x{w} to {size}x{size}"
        for (h, w), k in sorted(sizes.items())
        if (h, w) != (size, size)
    ]
    if transparent:
        notes.append(
            f"{transparent} of {len(images)} image(s) have transparent pixels, composited over "
            "white (the model sees them as white)"
        )
    return _build(
        np.stack(images),
        np.asarray(labels, dtype=np.int64),
        tuple(p.name for p in classes),
        str(path),
        tuple(notes),
    )


def _build(images, labels, names, source, notes=()) -> SpriteData:
    if len(labels) != len(images):
        raise DataError(f"{source!r}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(
            f"{source!r}: labels must be in [0, {len(names) - 1}], "
            f"got values in [{labels.min()}, {labels.max()}]"
        )
    return SpriteData(images, labels, names, source, tuple(notes))


def resize_one(image: np.ndarray, size: int, cv2) -> np.ndarray:
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    shrink = h >= size and w >= size
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_NEAREST
    return cv2.resize(image, (size, size), interpolation=interpolation)
