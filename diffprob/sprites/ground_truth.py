"""What is known exactly about the sprites, to hold a model's samples against.

* :func:`snap_to_palette` -- move each pixel to the nearest colour its class can contain,
  and say how far it moved;
* :func:`is_mirror_symmetric` -- whether a class is symmetric by construction;
* :func:`symmetry_score` -- how symmetric each image is.
"""

from __future__ import annotations

import numpy as np

from diffprob.errors import ParameterError
from diffprob.sprites.classes import CLASSES, class_index
from diffprob.sprites.palettes import class_colours
from diffprob.util.validation import check_image_batch

__all__ = ["snap_to_palette", "is_mirror_symmetric", "symmetry_score"]

# Heroes and creatures are drawn from distances to the vertical axis only.
_SYMMETRIC = {"hero": True, "creature": True, "food": False, "item": False, "spell": False}


def snap_to_palette(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Move every pixel to the nearest colour that its sprite's class can contain.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, 3)`` uint8 sprites, e.g. samples of a model.
    labels : array_like of int
        ``(n,)`` class of each sprite, an index into :data:`CLASSES`.

    Returns
    -------
    snapped : numpy.ndarray
        ``(n, H, W, 3)`` uint8: each pixel replaced by its nearest colour of
        :func:`class_colours` (background included).
    offset : numpy.ndarray
        ``(n, H, W)`` int: the distance moved, the largest channel difference
        ``max_c |x_c - colour_c|`` in levels; 0 where a pixel was exactly on the palette.

    Notes
    -----
    Nearest is in that same Chebyshev distance (``scipy.spatial.cKDTree`` with
    ``p=inf``), so ``offset <= k`` means "within k levels in every channel". Snapping
    keeps each pixel's choice of colour and drops only how precisely it hit it: a
    model's colour histograms after snapping say whether it picks the right colours
    in the right proportions.

    Examples
    --------
    >>> images = np.array([[[[250, 255, 251], [36, 23, 40]]]], dtype=np.uint8)
    >>> snapped, offset = snap_to_palette(images, [0])
    >>> snapped[0, 0].tolist(), offset.tolist()
    ([[255, 255, 255], [34, 24, 40]], [[[5, 2]]])
    """
    from scipy.spatial import cKDTree

    images = check_image_batch(images, error=ParameterError)
    labels = np.asarray(labels)
    if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
        raise ParameterError(f"labels must be {len(images)} integers, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ParameterError(f"labels must be in [0, {len(CLASSES) - 1}]")
    snapped = images.copy()
    offset = np.zeros(images.shape[:3], dtype=np.int64)
    for k in np.unique(labels):
        palette = class_colours(int(k))
        pixels = images[labels == k].reshape(-1, 3)
        gap, nearest = cKDTree(palette).query(pixels, p=np.inf)
        snapped[labels == k] = palette[nearest].reshape(-1, *images.shape[1:])
        offset[labels == k] = np.rint(gap).astype(np.int64).reshape(-1, *images.shape[1:3])
    return snapped, offset


def is_mirror_symmetric(class_name) -> bool:
    """Whether every sprite of a class is exactly left-right mirror symmetric.

    True for ``hero`` and ``creature`` (drawn from distances to the vertical
    axis); False means symmetry is not built in (offsets, diagonal swords,
    leaves on one side, rotated stars), although a few sprites may be
    symmetric by chance.

    Examples
    --------
    >>> [is_mirror_symmetric(c) for c in CLASSES]
    [True, True, False, False, False]
    """
    return _SYMMETRIC[CLASSES[class_index(class_name)]]


def symmetry_score(images, *, tol: float = 0.0) -> np.ndarray:
    """Left-right symmetry of each image: the fraction of pixels equal to their mirror.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, C)`` or ``(n, H, W)`` images (any dtype), or one ``(H, W, C)``
        image with ``C`` in (1, 3, 4).
    tol : float, default 0
        A pixel counts as symmetric when every channel differs from the
        mirrored pixel by at most ``tol`` (in the images' units; use e.g. 16
        for uint8 model samples, whose colours are never exact).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 scores in [0, 1]; 1 means exactly mirror symmetric.

    Notes
    -----
    score = (1 / HW) * sum_{i,j} [ max_c |x[i, j, c] - x[i, W-1-j, c]| <= tol ].
    Background pixels count too, so a random image on a white background scores
    well above 0; compare scores between sets, not against 0.

    Examples
    --------
    >>> from diffprob.sprites.generator import generate_sprites
    >>> images, labels = generate_sprites(50, seed=0)
    >>> scores = symmetry_score(images)
    >>> bool(np.all(scores[labels == 0] == 1.0))
    True
    """
    a = np.asarray(images)
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4):
        a = a[None]
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ParameterError(f"images must be (n, H, W[, C]), got shape {np.asarray(images).shape}")
    if not np.isfinite(tol) or tol < 0:
        raise ParameterError(f"tol must be a finite number >= 0, got {tol}")
    a = a.astype(np.float64)
    diff = np.abs(a - a[:, :, ::-1]).max(axis=-1)
    return (diff <= tol).mean(axis=(1, 2))
