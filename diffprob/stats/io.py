"""Read and write images as RGB ``uint8`` arrays, whatever the file holds.

OpenCV decodes files in BGR(A) order with the sample type of the file. Every
function here converts once, explicitly, so the rest of diffprob only ever sees
RGB ``uint8`` arrays of shape ``(H, W, 3)``:

========================  ====================================================
file holds                ``load_image`` returns
========================  ====================================================
8-bit BGR                 channels reversed to RGB
grayscale (1 channel)     the gray value repeated in R, G and B
BGRA (alpha)              composited over a white background (see Notes);
                          with ``alpha="ignore"`` a masked array that masks
                          the fully transparent pixels
palette (indexed) PNG     expanded to colours by OpenCV, then as above
16-bit samples            ``round(x * 255 / 65535)``
float samples (TIFF)      assumed in [0, 1]: ``round(clip(x, 0, 1) * 255)``
========================  ====================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from diffprob.errors import ImageReadError, ImageWriteError, ParameterError
from diffprob.util.limits import MAX_PIXELS, PIXELS_ENV, check_image_pixels, max_pixels

__all__ = [
    "ALPHA_MODES",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "load_image",
    "load_images",
    "save_image",
    "to_uint8",
]

#: File name extensions that :func:`load_images` picks up from a folder.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)

#: What :func:`load_image` does with transparency: composite over white, or mask the
#: fully transparent pixels so that statistics leave them out.
ALPHA_MODES = ("composite", "ignore")

# MAX_PIXELS (from diffprob.util.limits): the largest image accepted, height x width,
# Pillow's decompression-bomb limit; the environment variable DIFFPROB_MAX_PIXELS
# replaces it. Checked from the file header before decoding where Pillow reads the
# format, from the decoded shape otherwise.

# Conversions of non-uint8 files work on this many pixels at a time, so that their
# float64 intermediates stay a few tens of MB whatever the image size.
_ROW_CHUNK_PIXELS = 1 << 20


def _header_size(path: Path):
    """(height, width) from the file header, or a pixel count, or None if Pillow cannot tell.

    Pillow's ``Image.open`` parses only the header; no pixel is decoded.
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        return None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
        return int(height), int(width)
    except Image.DecompressionBombError as exc:  # Pillow's own limit: it gives the count
        import re

        found = re.search(r"\((\d+) pixels\)", str(exc))
        return int(found.group(1)) if found else None
    except Exception:  # not a format Pillow reads, or a corrupt header: OpenCV decides
        return None


def _decode(path: Path) -> np.ndarray:
    import cv2

    if not path.exists():
        raise ImageReadError(f"{str(path)!r}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{str(path)!r} is a directory, not an image")
    size = _header_size(path)
    if size is not None:
        check_image_pixels(size, repr(str(path)))
    try:
        # np.fromfile + imdecode instead of imread: imread cannot open
        # non-ASCII paths on Windows and says nothing about why it failed.
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"{str(path)!r}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise ImageReadError(f"{str(path)!r}: empty file")
    # OpenCV logs its own warnings about corrupt files on stderr; the error
    # raised below says it once, in diffprob's words.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        decoded = None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if decoded is None:
        raise ImageReadError(
            f"{str(path)!r}: not a readable image (corrupt, unsupported format, "
            f"or more than {min(max_pixels(), 2**30):,} pixels; {PIXELS_ENV} raises the "
            "limit up to OpenCV's own, 2**30)"
        )
    return decoded


def _row_slices(array: np.ndarray):
    """Slices of whole rows of about :data:`_ROW_CHUNK_PIXELS` pixels each."""
    step = max(1, _ROW_CHUNK_PIXELS // max(1, array.shape[1]))
    for start in range(0, array.shape[0], step):
        yield slice(start, start + step)


def _unit_to_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    """A 16-bit or float image as uint8, converted a few rows at a time."""
    out = np.empty(array.shape, np.uint8)
    for rows in _row_slices(array):
        out[rows] = to_uint8(_samples_to_unit(array[rows], path))
    return out


def _samples_to_unit(array: np.ndarray, path: Path) -> np.ndarray:
    """Sample values as float64 in [0, 1] (only for non-uint8 files)."""
    if array.dtype == np.uint16:
        return array / 65535.0
    if array.dtype.kind == "f":
        return np.clip(np.nan_to_num(array.astype(np.float64)), 0.0, 1.0)
    raise ImageReadError(f"{str(path)!r}: unsupported sample type {array.dtype}")


def load_image(path: str | os.PathLike, *, alpha: str = "composite") -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Parameters
    ----------
    path : str or path-like
        Any format OpenCV decodes (PNG, JPEG, BMP, TIFF, WebP, PNM, ...).
    alpha : {"composite", "ignore"}, optional
        ``"composite"`` (default): transparency is composited over white.
        ``"ignore"``: return a :class:`numpy.ma.MaskedArray` whose mask is True
        (in all three channels) where a pixel is fully transparent, so that
        :func:`~diffprob.stats.histograms.channel_histograms` and
        :func:`~diffprob.stats.joint.joint_histogram` leave those pixels out of
        every count. Its data are the composited colours; a file without alpha
        gives an all-False mask.

    Returns
    -------
    image : ndarray of uint8, shape (H, W, 3)
        Channels in R, G, B order (never OpenCV's BGR); a masked array with
        ``alpha="ignore"``.

    Raises
    ------
    ImageReadError
        The file is missing, a directory, unreadable, corrupt, not an image,
        larger than the pixel limit (:data:`MAX_PIXELS`, or the environment
        variable ``DIFFPROB_MAX_PIXELS``), or of an unsupported layout; the
        message names the file (one line).

    Warns
    -----
    diffprob.util.limits.DecompressionBombWarning
        The image has more than half the pixel limit (Pillow's warning threshold).

    Notes
    -----
    * Grayscale files repeat their value in the three channels.
    * An alpha channel is composited over white, the usual background of a
      page: with colour :math:`c` and opacity :math:`\\alpha`, both in [0, 1],
      the result is :math:`c\\alpha + (1 - \\alpha)`. Fully transparent pixels
      therefore become white, opaque ones keep their colour. Pixel art often
      has more transparent than opaque pixels: ``alpha="ignore"`` keeps them
      from swamping the colour statistics. Partly transparent pixels are
      composited in both modes.
    * 16-bit samples are scaled with rounding, :math:`\\mathrm{round}(x \\cdot
      255 / 65535)`, so 0 -> 0, 65535 -> 255 and 257k -> k exactly.
    * Palette PNGs are expanded by OpenCV (with alpha when they have a
      transparency chunk).
    * Multi-page TIFFs give their first page.
    * Pixel limit: Pillow's decompression-bomb convention. A file above
      :data:`MAX_PIXELS` = 178,956,970 pixels (twice ``PIL.Image.MAX_IMAGE_PIXELS``)
      is refused before it is decoded when Pillow can read its header (PNG,
      JPEG, BMP, TIFF, WebP, PNM, ...), after decoding otherwise; above half of
      it a warning is issued. ``DIFFPROB_MAX_PIXELS=N`` sets the limit to N
      (OpenCV itself refuses more than 2**30). Memory then stays a small multiple
      of the decoded image: non-uint8 files are converted a few rows at a time.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from diffprob.stats.io import load_image, save_image
    >>> rgb = np.zeros((2, 3, 3), np.uint8); rgb[..., 0] = 255   # pure red
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "red.png"
    >>> save_image(path, rgb)
    >>> load_image(path)[0, 0]
    array([255,   0,   0], dtype=uint8)
    """
    if alpha not in ALPHA_MODES:
        raise ParameterError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got {alpha!r}")
    path = Path(path)
    rgb, transparent = _decode_rgb(path)
    if alpha == "composite":
        return rgb
    mask = (
        np.zeros(rgb.shape, bool)
        if transparent is None
        else np.repeat(transparent[..., None], 3, 2)
    )
    return np.ma.MaskedArray(rgb, mask=mask)


def _decode_rgb(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB uint8 composited over white, fully-transparent mask or None without alpha)."""
    import cv2

    raw = _decode(path)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[..., 0]
    if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[2] not in (3, 4)):
        raise ImageReadError(f"{str(path)!r}: unsupported image layout {raw.shape}")
    check_image_pixels(raw.shape[:2], repr(str(path)))  # formats Pillow cannot size
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise ImageReadError(f"{str(path)!r}: image has no pixels")

    if raw.ndim == 2:
        gray = raw if raw.dtype == np.uint8 else _unit_to_uint8(raw, path)
        return np.repeat(gray[..., None], 3, axis=2), None

    if raw.shape[2] == 3:
        rgb = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
        return (rgb if rgb.dtype == np.uint8 else _unit_to_uint8(rgb, path)), None

    # BGRA: composite over white in [0, 1] units, at the file's own precision, a few
    # rows at a time (the float64 intermediates would be 32 bytes a pixel at once).
    rgb = np.empty(raw.shape[:2] + (3,), np.uint8)
    transparent = np.empty(raw.shape[:2], bool)
    for rows in _row_slices(raw):
        part = raw[rows]
        unit = part / 255.0 if part.dtype == np.uint8 else _samples_to_unit(part, path)
        opacity = unit[..., 3:4]
        rgb[rows] = to_uint8(unit[..., 2::-1] * opacity + (1.0 - opacity))
        transparent[rows] = opacity[..., 0] == 0
    return rgb, transparent


def _expand(item: str | os.PathLike) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise ImageReadError(f"{str(path)!r}: folder holds no image files")
        return files
    return [path]


def image_paths(paths_or_folder) -> list[Path]:
    """Expand files and folders to a list of image paths (folders: sorted, by extension)."""
    if isinstance(paths_or_folder, (str, os.PathLike)):
        paths_or_folder = [paths_or_folder]
    paths = [p for item in paths_or_folder for p in _expand(item)]
    if not paths:
        raise ImageReadError("no images given")
    return paths


def load_images(
    paths_or_folder: str | os.PathLike | Iterable, *, alpha: str = "composite"
) -> list[np.ndarray]:
    """Read several images (files and/or folders) as a list of RGB ``uint8`` arrays.

    Parameters
    ----------
    paths_or_folder : path or iterable of paths
        Image files and folders. A folder contributes its files whose extension
        is in :data:`IMAGE_EXTENSIONS`, sorted by name, not recursing into
        sub-folders.
    alpha : {"composite", "ignore"}, optional
        As in :func:`load_image`.

    Returns
    -------
    images : list of ndarray of uint8, shape (H_i, W_i, 3)
        In the order given (folders expanded in place). Sizes may differ.

    Raises
    ------
    ImageReadError
        For the first file that cannot be read, or a folder with no images.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from diffprob.stats.io import load_images, save_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.png"):
    ...     save_image(folder / name, np.zeros((4, 4, 3), np.uint8))
    >>> [im.shape for im in load_images(folder)]
    [(4, 4, 3), (4, 4, 3)]
    """
    return [load_image(p, alpha=alpha) for p in image_paths(paths_or_folder)]


def to_uint8(image) -> np.ndarray:
    """Convert an image to ``uint8``: floats in [0, 1] are clipped and rounded.

    Parameters
    ----------
    image : array_like
        ``uint8`` (returned unchanged), bool, or float with values in [0, 1]
        (values outside are clipped; NaN is refused).

    Returns
    -------
    ndarray of uint8
        :math:`\\mathrm{round}(255 \\cdot \\mathrm{clip}(x, 0, 1))`, rounding half to even.

    Examples
    --------
    >>> to_uint8(np.array([-0.1, 0.0, 0.5, 1.0, 1.2]))
    array([  0,   0, 128, 255, 255], dtype=uint8)
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * np.uint8(255)
    if image.dtype.kind != "f":
        raise ParameterError(f"expected a uint8 or float image in [0, 1], got dtype {image.dtype}")
    if np.isnan(image).any():
        raise ParameterError("image contains NaN")
    scaled = np.clip(image, 0.0, 1.0) * 255.0
    return np.rint(scaled, out=scaled).astype(np.uint8)


def save_image(path: str | os.PathLike, image) -> None:
    """Write an RGB (or grayscale) image, converting to OpenCV's BGR order.

    Parameters
    ----------
    path : str or path-like
        Output file; its extension picks the format (``.png`` recommended:
        lossless, so saved statistics survive a round trip).
    image : array_like, shape (H, W, 3) or (H, W)
        ``uint8``, or float in [0, 1] (converted by :func:`to_uint8`).

    Raises
    ------
    ImageWriteError
        Unknown extension, unwritable folder, or an encoder failure.
    ParameterError
        The array is not an image.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> save_image(pathlib.Path(tempfile.mkdtemp()) / "gray.png", np.full((2, 2), 0.5))
    """
    import cv2

    path = Path(path)
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    elif image.ndim != 2:
        raise ParameterError(f"expected an (H, W, 3) or (H, W) image, got shape {image.shape}")
    if image.size == 0:
        raise ParameterError("image has no pixels")
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image))
    except cv2.error:
        ok = False
    if not ok:
        raise ImageWriteError(
            f"{str(path)!r}: cannot encode an image with extension {path.suffix!r}"
        )
    try:
        encoded.tofile(path)
    except OSError as exc:
        raise ImageWriteError(f"{str(path)!r}: cannot write ({exc.strerror or exc})") from None
