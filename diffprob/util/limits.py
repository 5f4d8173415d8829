"""Upper bounds on what a file or an option may make diffprob allocate, each defined once.

A 1 MB PNG can decode to 20000 x 20000 pixels, a 2 MB ``.npz`` can unpack to
gigabytes, and ``--scale 100000`` asks for terabytes. Every size that comes from
outside is checked against one of these bounds *before* anything is allocated, and
a refusal is one :class:`~diffprob.errors.DiffprobError` line that names the bound
and how to proceed.

=====================  ==========================  ====================================
bound                  default                     raised by
=====================  ==========================  ====================================
image pixels           :data:`MAX_PIXELS`          ``DIFFPROB_MAX_PIXELS``
                       (178,956,970; a warning
                       above half of it)
data set bytes         :data:`MAX_DATA_BYTES`      ``DIFFPROB_MAX_DATA_BYTES``
                       (1 GiB, unpacked)
images drawn at once   :data:`MAX_BATCH` (10,000)  -- (draw in several runs)
images in all          :data:`MAX_SAMPLES`         --
                       (100,000)
timesteps, repeats     :data:`MAX_TIMESTEPS`       --
                       (100,000)
figure bins            :data:`MAX_FIGURE_BINS`     --
                       (1,000)
=====================  ==========================  ====================================

The pixel limit follows Pillow's decompression-bomb convention
(``PIL.Image.MAX_IMAGE_PIXELS`` = 89,478,485 warns, twice that refuses).
"""

from __future__ import annotations

import os
import warnings

from diffprob.errors import DataError, ImageReadError, ParameterError

__all__ = [
    "MAX_BATCH",
    "MAX_DATA_BYTES",
    "MAX_FIGURE_BINS",
    "MAX_PIXELS",
    "MAX_SAMPLES",
    "MAX_SPRITES",
    "MAX_TIMESTEPS",
    "PIXELS_ENV",
    "DATA_BYTES_ENV",
    "DecompressionBombWarning",
    "check_data_bytes",
    "check_image_pixels",
    "check_upper",
    "max_data_bytes",
    "max_pixels",
]

#: Pillow's ``Image.MAX_IMAGE_PIXELS``: above it, images are read with a warning.
WARN_PIXELS = 89_478_485  # 1024 * 1024 * 1024 // 4 // 3, as in Pillow
#: Largest image (in pixels: height x width) read or written by default: twice
#: :data:`WARN_PIXELS`, where Pillow raises ``DecompressionBombError``.
MAX_PIXELS = 2 * WARN_PIXELS
#: Environment variable that replaces :data:`MAX_PIXELS` (the warning moves to half of it).
PIXELS_ENV = "DIFFPROB_MAX_PIXELS"

#: Largest data set (images plus labels, unpacked) loaded from a file by default.
MAX_DATA_BYTES = 2**30
#: Environment variable that replaces :data:`MAX_DATA_BYTES`.
DATA_BYTES_ENV = "DIFFPROB_MAX_DATA_BYTES"

#: Most images drawn in one sampler call (``sample --n``, ``evaluate --batch-size``).
MAX_BATCH = 10_000
#: Most images in one evaluation or reference set (``evaluate --n``, ``--n-reference``).
MAX_SAMPLES = 100_000
#: Most sprites generated in one data set (``data -n``); bytes are bounded too.
MAX_SPRITES = 10**7
#: Most diffusion steps (``forward --timesteps``) and RePaint repeats/jumps.
MAX_TIMESTEPS = 100_000
#: Most histogram bins in a figure (``forward --bins``).
MAX_FIGURE_BINS = 1_000


class DecompressionBombWarning(RuntimeWarning):
    """An image is above half the pixel limit (Pillow's warning threshold)."""


def _env_limit(name: str, default: int, error: type[Exception]) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise error(f"environment variable {name} must be an integer >= 1, got {text!r}")
    return value


def max_pixels() -> int:
    """The pixel limit now in force: ``$DIFFPROB_MAX_PIXELS`` or :data:`MAX_PIXELS`."""
    return _env_limit(PIXELS_ENV, MAX_PIXELS, ImageReadError)


def max_data_bytes() -> int:
    """The data-set byte limit now in force: ``$DIFFPROB_MAX_DATA_BYTES`` or :data:`MAX_DATA_BYTES`."""
    return _env_limit(DATA_BYTES_ENV, MAX_DATA_BYTES, DataError)


def check_image_pixels(size, what: str, *, error: type[Exception] = ImageReadError) -> None:
    """Refuse an image of more than :func:`max_pixels` pixels; warn above half of it.

    Parameters
    ----------
    size : (height, width) or int
        The size, from a file header or a shape, before anything of that size exists;
        or only its number of pixels.
    what : str
        How the message names the image (a quoted file name, "the sample grid", ...).
    error : exception class
        Raised above the limit (``ImageReadError`` for files, ``ParameterError`` for
        options that set an output size).

    Examples
    --------
    >>> check_image_pixels((20000, 20000), "'bomb.png'")
    Traceback (most recent call last):
    ...
    diffprob.errors.ImageReadError: 'bomb.png' is 20000x20000 = 400,000,000 pixels, more than the limit of 178,956,970 (a decompression bomb?); it was not read. Set DIFFPROB_MAX_PIXELS to a larger number to allow it
    """
    limit = max_pixels()
    if isinstance(size, (tuple, list)):
        pixels = int(size[0]) * int(size[1])
        shape = f"{int(size[1])}x{int(size[0])} = {pixels:,} pixels"
    else:
        pixels = int(size)
        shape = f"{pixels:,} pixels"
    if pixels > limit:
        reading = error is ImageReadError
        done = " (a decompression bomb?); it was not read" if reading else "; nothing was computed"
        raise error(
            f"{what} is {shape}, more than the limit of {limit:,}{done}. "
            f"Set {PIXELS_ENV} to a larger number to allow it"
        )
    if pixels > limit // 2:
        warnings.warn(
            f"{what} is {shape}, more than half the limit of {limit:,}; "
            "it needs several bytes of memory per pixel",
            DecompressionBombWarning,
            stacklevel=3,
        )


def check_data_bytes(
    nbytes: int, what: str, *, verb: str = "unpacks to", result: str = "it was not loaded"
) -> None:
    """Refuse a data set that would take more than :func:`max_data_bytes` bytes in memory.

    Examples
    --------
    >>> check_data_bytes(2 * 2**30, "'big.npz'")
    Traceback (most recent call last):
    ...
    diffprob.errors.DataError: 'big.npz' unpacks to 2,147,483,648 bytes, more than the limit of 1,073,741,824; it was not loaded. Set DIFFPROB_MAX_DATA_BYTES to a larger number to allow it
    """
    limit = max_data_bytes()
    if nbytes > limit:
        raise DataError(
            f"{what} {verb} {int(nbytes):,} bytes, more than the limit of {limit:,}; "
            f"{result}. Set {DATA_BYTES_ENV} to a larger number to allow it"
        )


def check_upper(name: str, value: int, limit: int, advice: str = "") -> None:
    """Raise ParameterError naming ``name`` and ``limit`` if ``value`` > ``limit``.

    Examples
    --------
    >>> check_upper("--n", 10**9, MAX_BATCH, "run several times with different --seed")
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: --n must be at most 10,000, got 1,000,000,000; run several times with different --seed
    """
    if value > limit:
        tail = f"; {advice}" if advice else ""
        raise ParameterError(f"{name} must be at most {limit:,}, got {value:,}{tail}")
