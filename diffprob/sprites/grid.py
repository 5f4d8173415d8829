"""Tile images into one crisp picture (sprite previews, sample grids)."""

from __future__ import annotations

import numpy as np

from diffprob.errors import ParameterError
from diffprob.util.validation import check_image_batch

__all__ = ["make_grid", "class_grid", "label_rows"]


def make_grid(images, ncols: int, scale: int = 4, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile ``(n, H, W, 3)`` uint8 images into one grid, upscaled by pixel repetition.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, C)`` uint8 images (``C`` = 1 or 3), or ``(n, H, W)`` grey.
    ncols : int
        Images per row (>= 1); the last row is filled with ``pad_value``.
    scale : int, default 4
        Integer nearest-neighbour upscaling factor, so pixels stay crisp.
    pad : int, default 1
        Gap between tiles and around the border, in output pixels.
    pad_value : int, default 255
        Value of the gap pixels (255 = white).

    Returns
    -------
    numpy.ndarray
        ``(rows * (H*scale + pad) + pad, ncols * (W*scale + pad) + pad, C)`` uint8.

    Examples
    --------
    >>> tiles = np.zeros((5, 2, 2, 3), dtype=np.uint8)
    >>> make_grid(tiles, ncols=3, scale=2, pad=1).shape
    (11, 16, 3)
    """
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[..., None]
    a = check_image_batch(a, channels=None, error=ParameterError)
    if a.shape[0] < 1 or a.shape[-1] not in (1, 3, 4):
        raise ParameterError(
            f"images must be (n, H, W, C) with n >= 1, C in 1, 3, 4; got {a.shape}"
        )
    for name, value, low in (("ncols", ncols, 1), ("scale", scale, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    if not 0 <= pad_value <= 255:
        raise ParameterError(f"pad_value must be in [0, 255], got {pad_value}")
    n, h, w, c = a.shape
    ncols = min(int(ncols), n)
    nrows = -(-n // ncols)
    big = a.repeat(scale, axis=1).repeat(scale, axis=2)
    th, tw = h * scale + pad, w * scale + pad
    grid = np.full((nrows * th + pad, ncols * tw + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, ncols)
        grid[pad + r * th : pad + r * th + h * scale, pad + q * tw : pad + q * tw + w * scale] = (
            big[i]
        )
    return grid


def class_grid(
    images,
    labels,
    class_names,
    ncols: int = 12,
    scale: int = 4,
    pad: int = 1,
    pad_value: int = 255,
    label_width: int | None = None,
) -> np.ndarray:
    """One row per class: the first ``ncols`` images of each class, names on the left.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, 3)`` uint8 images.
    labels : array_like
        ``(n,)`` integer labels indexing ``class_names``.
    class_names : sequence of str
        One name per class; a class with no images gets an empty row.
    ncols, scale, pad, pad_value
        As in :func:`make_grid`.
    label_width : int, optional
        Width of the name column in pixels; fitted to the longest name by default.
        Names are drawn a fifth of a tile high (9 to 40 pixels).

    Returns
    -------
    numpy.ndarray
        ``(len(class_names) * (H*scale + pad) + pad, label_width + ncols * (W*scale + pad) + pad, 3)``
        uint8 RGB.

    Examples
    --------
    >>> from diffprob.sprites.classes import CLASSES
    >>> from diffprob.sprites.generator import generate_sprites
    >>> images, labels = generate_sprites(20, seed=0)
    >>> class_grid(images, labels, CLASSES, ncols=4, scale=2, label_width=60).shape
    (166, 193, 3)
    """

    a = check_image_batch(images, error=ParameterError)
    lab = np.asarray(labels)
    if lab.shape != (len(a),):
        raise ParameterError(f"labels must have shape ({len(a)},), got {lab.shape}")
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ParameterError(f"ncols must be an integer >= 1, got {ncols!r}")
    h, w = a.shape[1:3]
    blank = np.full((1, h, w, 3), pad_value, dtype=np.uint8)
    rows = []
    for c in range(len(class_names)):
        members = a[lab == c][:ncols]
        filler = np.repeat(blank, ncols - len(members), axis=0)
        rows.append(np.concatenate([members, filler]))
    grid = make_grid(np.concatenate(rows), ncols, scale=scale, pad=pad, pad_value=pad_value)
    return label_rows(grid, class_names, h * scale, pad=pad, pad_value=pad_value, width=label_width)


def label_rows(
    grid,
    names,
    tile_height: int,
    *,
    pad: int = 1,
    pad_value: int = 255,
    width: int | None = None,
) -> np.ndarray:
    """``grid`` (from :func:`make_grid`) with a column of row names on its left.

    Parameters
    ----------
    grid : ndarray of uint8, shape (H, W, 3)
        A grid of ``len(names)`` rows or more, tiles ``tile_height`` pixels high
        (the image height times the scale), separated by ``pad``.
    names : sequence of str
        One name per row, top to bottom.
    tile_height : int
        Height of a tile in the grid, in pixels, without the gap.
    pad, pad_value : int
        As in :func:`make_grid`.
    width : int, optional
        Width of the name column; fitted to the longest name by default. Names are
        drawn a fifth of a tile high (9 to 40 pixels).

    Examples
    --------
    >>> grid = make_grid(np.zeros((4, 2, 2, 3), np.uint8), ncols=2, scale=8)
    >>> label_rows(grid, ["hero", "food"], 16, width=50).shape
    (35, 85, 3)
    """
    import cv2

    grid = np.asarray(grid)
    # Names scale with the tiles so they stay readable next to 2x thumbnails and
    # 8x previews alike.
    font = cv2.FONT_HERSHEY_SIMPLEX
    text_height = int(np.clip(round(tile_height / 5), 9, 40))
    thickness = 1 if text_height < 20 else 2
    font_scale = cv2.getFontScaleFromHeight(font, text_height, thickness)
    if width is None:
        widths = [cv2.getTextSize(str(n), font, font_scale, thickness)[0][0] for n in names]
        width = max(widths, default=0) + 8
    column = np.full((grid.shape[0], int(width), grid.shape[2]), pad_value, dtype=np.uint8)
    for r, name in enumerate(names):
        baseline_y = pad + r * (tile_height + pad) + (tile_height + text_height) // 2
        cv2.putText(
            column, str(name), (4, baseline_y), font, font_scale, (0, 0, 0), thickness, cv2.LINE_AA
        )
    return np.concatenate([column, grid], axis=1)
