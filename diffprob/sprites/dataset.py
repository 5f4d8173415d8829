"""Sprite data sets for the model: load, check, split, and map pixels to [-1, 1].

Four sources give the same :class:`SpriteData`:

==============================  ===============================================
``source``                      what is read
==============================  ===============================================
``"sprites"``                   the embedded generator (:mod:`diffprob.sprites.generator`)
``FILE.npz``                    written by ``diffprob data sprites`` or
                                :meth:`SpriteData.save` (keys ``images``,
                                ``labels``, ``class_names``)
``.../sprites_1788_16x16.npy``  the DeepLearning.AI course's format: uint8
                                ``(N, 16, 16, 3)`` with the sibling
                                ``sprite_labels_nc_1788_16x16.npy``, float
                                one-hot ``(N, 5)``
``FOLDER``                      one sub-folder per class (its name is the
                                label), images resized with area interpolation
==============================  ===============================================

The model sees float32 ``(N, 3, H, W)`` arrays in [-1, 1]:
:func:`diffprob.diffusion.model_range.to_model_range` and its inverse convert both ways.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffprob.errors import DataError, ParameterError
from diffprob.util.limits import check_data_bytes
from diffprob.util.validation import check_image_batch, describe_array

__all__ = [
    "COURSE_CLASSES",
    "DEFAULT_N",
    "SpriteData",
    "load_sprite_data",
    "split_train_test",
]

COURSE_CLASSES = ("human", "non-human", "food", "spell", "side-facing")
"""Class names of the course's five one-hot columns, in order."""

DEFAULT_N = 20000
"""Number of sprites ``load_sprite_data("sprites")`` generates by default."""

_SIZES = (16, 32, 48, 64)


@dataclass(frozen=True)
class SpriteData:
    """Labelled sprites: uint8 ``(N, H, W, 3)`` images and int64 ``(N,)`` labels.

    Attributes
    ----------
    images : numpy.ndarray
        ``(N, H, W, 3)`` uint8 RGB.
    labels : numpy.ndarray
        ``(N,)`` int64, each in ``[0, len(class_names))``.
    class_names : tuple of str
        Name of each label.
    source : str
        Where the data came from (kept in checkpoints and reports).
    notes : tuple of str
        What loading did to the files, e.g. resizing or compositing transparency over
        white (``diffprob train`` prints them before it starts).

    Examples
    --------
    >>> data = load_sprite_data("sprites", n=10)
    >>> len(data), data.image_size, data.num_classes
    (10, 16, 5)
    >>> data.one_hot().shape
    (10, 5)
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    source: str
    notes: tuple = ()

    def __post_init__(self):
        images, labels = self.images, self.labels
        if not isinstance(images, np.ndarray):
            raise DataError(f"images must be a uint8 array, got {describe_array(images)}")
        check_image_batch(images)
        if len(images) < 1:
            raise DataError(f"images must hold at least one image, got shape {images.shape}")
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
            raise DataError(f"labels must be a 1-D int64 array, got {describe_array(labels)}")
        if len(labels) != len(images):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        names = tuple(str(c) for c in self.class_names)
        if not names:
            raise DataError("class_names is empty")
        if labels.min() < 0 or labels.max() >= len(names):
            raise DataError(
                f"labels must be in [0, {len(names) - 1}] for {len(names)} classes, "
                f"got values in [{labels.min()}, {labels.max()}]"
            )
        object.__setattr__(self, "class_names", names)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> int:
        """Height of the images in pixels (width for non-square folders' resized images)."""
        return int(self.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def one_hot(self) -> np.ndarray:
        """``(N, num_classes)`` float32 one-hot labels (the model's context)."""
        return np.eye(self.num_classes, dtype=np.float32)[self.labels]

    def class_counts(self) -> np.ndarray:
        """``(num_classes,)`` number of images per class."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, index) -> SpriteData:
        """The images (and labels) at ``index`` (an integer array or a boolean mask)."""
        return SpriteData(
            self.images[index], self.labels[index], self.class_names, self.source, self.notes
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write a compressed ``.npz`` that :func:`load_sprite_data` reads back exactly."""
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                images=self.images,
                labels=self.labels,
                class_names=np.array(self.class_names, dtype=str),
                source=np.array(self.source, dtype=str),
            )


def load_sprite_data(
    source: str | os.PathLike = "sprites",
    *,
    n: int | None = None,
    size: int = 16,
    seed=0,
) -> SpriteData:
    """Load a labelled sprite data set from the generator, an ``.npz``, the course files or a folder.

    Parameters
    ----------
    source : str or path-like, default "sprites"
        ``"sprites"`` for the embedded generator, or a path: an ``.npz``
        written by :meth:`SpriteData.save`, the course's ``sprites_*.npy``
        (labels read from the sibling ``sprite_labels_nc_*.npy``), or a folder
        with one sub-folder of images per class.
    n : int, optional
        Number of sprites. For the generator the default is :data:`DEFAULT_N`;
        for files, all of them, or a random subset of ``n`` (drawn with
        ``seed``, kept in file order).
    size : int, default 16
        Image size in pixels (16, 32, 48 or 64). The generator draws at this
        size; stored images of another size are resized (area interpolation
        when shrinking, nearest neighbour when enlarging so pixels stay crisp).
    seed : int or numpy.random.Generator, default 0
        Seed of the generator or of the subset.

    Returns
    -------
    SpriteData

    Raises
    ------
    DataError
        Missing files, unknown formats, wrong shapes or dtypes, labels that do
        not match the images, one-hot rows that do not sum to 1, empty folders;
        files that are not diffprob data (truncated archives, pickled objects);
        data that would take more than ``diffprob.util.limits.MAX_DATA_BYTES``
        (1 GiB; the environment variable ``DIFFPROB_MAX_DATA_BYTES`` raises it),
        judged from the ``.npy`` headers before any array is read.

    Examples
    --------
    >>> data = load_sprite_data("sprites", n=20, seed=1)
    >>> data.images.shape, data.class_names[:2], data.source
    ((20, 16, 16, 3), ('hero', 'creature'), 'sprites(n=20, size=16, seed=1)')
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    if size not in _SIZES:
        raise ParameterError(f"size must be one of {_SIZES}, got {size!r}")
    if isinstance(source, str) and source == "sprites":
        from diffprob.sprites.classes import CLASSES
        from diffprob.sprites.generator import generate_sprites

        count = DEFAULT_N if n is None else int(n)
        check_data_bytes(
            count * (size * size * 3 + 8),
            f"{count:,} sprites of {size}x{size}",
            verb="would take",
            result="nothing was generated; ask for fewer",
        )
        images, labels = generate_sprites(count, size=size, seed=seed)
        seed_text = seed if isinstance(seed, (int, np.integer)) else "<Generator>"
        return SpriteData(
            images, labels, CLASSES, f"sprites(n={count}, size={size}, seed={seed_text})"
        )

    path = Path(source)
    if not path.exists():
        raise DataError(f"{str(path)!r}: no such file or folder (or use source='sprites')")
    from diffprob.sprites import file_readers

    if path.is_dir():
        data = file_readers.read_folder(path, size)
    elif path.suffix.lower() == ".npz":
        data = file_readers.read_npz(path)
    elif path.suffix.lower() == ".npy":
        data = file_readers.read_course_npy(path)
    else:
        raise DataError(
            f"{str(path)!r}: unknown data format; expected 'sprites', an .npz, the course's "
            ".npy or a folder of class sub-folders"
        )
    data = _resize(data, size)
    if n is not None:
        if n > len(data):
            raise DataError(f"{str(path)!r} holds {len(data)} images, fewer than n={n}")
        index = np.sort(np.random.default_rng(seed).choice(len(data), size=int(n), replace=False))
        data = data.subset(index)
    return data


def _resize(data: SpriteData, size: int) -> SpriteData:
    if data.images.shape[1:3] == (size, size):
        return data
    import cv2

    check_data_bytes(
        len(data) * size * size * 3,
        f"{data.source!r} resized to {size}x{size}",
        verb="takes",
        result="it was not resized",
    )
    from diffprob.sprites.file_readers import resize_one

    images = np.stack([resize_one(im, size, cv2) for im in data.images])
    h, w = data.images.shape[1:3]
    note = f"resized {len(images)} image(s) from {h}x{w} to {size}x{size}"
    return SpriteData(images, data.labels, data.class_names, data.source, (*data.notes, note))


def split_train_test(
    data: SpriteData, test_fraction: float = 0.1, seed=0
) -> tuple[SpriteData, SpriteData]:
    """Split into training and held-out sets, stratified by class.

    Parameters
    ----------
    data : SpriteData
    test_fraction : float, default 0.1
        Fraction of each class held out, in (0, 1); per class
        ``round(count * test_fraction)`` images.
    seed : int or numpy.random.Generator, default 0

    Returns
    -------
    train, test : SpriteData
        Disjoint, together all of ``data``, each in the original order.

    Examples
    --------
    >>> train, test = split_train_test(load_sprite_data("sprites", n=100), 0.2)
    >>> len(train), len(test), test.class_counts().tolist()
    (80, 20, [4, 4, 4, 4, 4])
    """
    if not isinstance(data, SpriteData):
        raise ParameterError(f"data must be a SpriteData, got {type(data).__name__}")
    f = float(test_fraction)
    if not 0.0 < f < 1.0:
        raise ParameterError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(data), dtype=bool)
    for c in range(data.num_classes):
        members = np.flatnonzero(data.labels == c)
        k = int(round(len(members) * f))
        test[rng.permutation(members)[:k]] = True
    if test.all() or not test.any():
        raise DataError(
            f"test_fraction={f} of {len(data)} images leaves an empty "
            f"{'training' if test.all() else 'test'} set"
        )
    return data.subset(~test), data.subset(test)
