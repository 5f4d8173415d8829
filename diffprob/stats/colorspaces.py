"""Colour spaces as OpenCV stores them in 8 bits, and the inputs that feed them.

=====  ==============  =============================================  =========
space  channels        OpenCV 8-bit codes                             levels
=====  ==============  =============================================  =========
rgb    R, G, B         0..255                                         256 each
hsv    H, S, V         H = hue in degrees / 2 (0..179); S, V 0..255   180, 256, 256
lab    L, a, b         L = L* x 255/100; a = a* + 128; b = b* + 128   256 each
gray   gray            0.299 R + 0.587 G + 0.114 B (ITU-R BT.601)     256
=====  ==============  =============================================  =========

Conversions use :func:`cv2.cvtColor` on the ``uint8`` RGB image, so the codes
are exactly those OpenCV users already see. Histograms span each channel's
``levels`` codes, e.g. hue bins cover [0, 180), not [0, 256).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diffprob.errors import ParameterError

__all__ = ["ColorSpace", "SPACES", "get_space", "convert", "as_image_batch"]


@dataclass(frozen=True)
class ColorSpace:
    """An 8-bit colour space: channel names, number of codes, plotting colours."""

    name: str
    channels: tuple[str, ...]
    levels: tuple[int, ...]
    colors: tuple[str, ...]

    def channel_index(self, channel: str) -> int:
        """Index of ``channel`` (case-insensitive); ParameterError lists the valid names."""
        for i, name in enumerate(self.channels):
            if str(channel).lower() == name.lower():
                return i
        raise ParameterError(
            f"unknown channel {channel!r} for space {self.name!r}; "
            f"valid: {', '.join(self.channels)}"
        )


SPACES = {
    "rgb": ColorSpace(
        "rgb", ("R", "G", "B"), (256, 256, 256), ("tab:red", "tab:green", "tab:blue")
    ),
    "hsv": ColorSpace("hsv", ("H", "S", "V"), (180, 256, 256), ("tab:purple", "tab:orange", "0.3")),
    "lab": ColorSpace("lab", ("L", "a", "b"), (256, 256, 256), ("0.3", "tab:pink", "tab:olive")),
    "gray": ColorSpace("gray", ("gray",), (256,), ("0.3",)),
}


def get_space(space: str) -> ColorSpace:
    """Look up a colour space by name (case-insensitive)."""
    key = str(space).lower()
    if key not in SPACES:
        raise ParameterError(f"unknown colour space {space!r}; valid: {', '.join(SPACES)}")
    return SPACES[key]


def convert(rgb: np.ndarray, space: str) -> np.ndarray:
    """Convert an RGB ``uint8`` image (H, W, 3) to ``space``; returns (H, W, C) ``uint8``.

    Examples
    --------
    >>> red = np.zeros((1, 1, 3), np.uint8); red[..., 0] = 255
    >>> convert(red, "hsv")[0, 0]          # hue 0, full saturation and value
    array([  0, 255, 255], dtype=uint8)
    >>> convert(red, "gray").shape
    (1, 1, 1)
    """
    import cv2

    code = {
        "rgb": None,
        "hsv": cv2.COLOR_RGB2HSV,
        "lab": cv2.COLOR_RGB2Lab,
        "gray": cv2.COLOR_RGB2GRAY,
    }[get_space(space).name]
    if code is None:
        return rgb
    out = cv2.cvtColor(rgb, code)
    return out[..., None] if out.ndim == 2 else out


def _one_image(array, what: str) -> np.ndarray:
    """One RGB uint8 plane; a masked array's masked pixels are dropped (see below)."""
    from diffprob.stats.io import to_uint8

    keep = None
    if np.ma.isMaskedArray(array):
        keep = ~np.ma.getmaskarray(array)
        keep = keep.all(axis=-1) if keep.ndim == 3 else keep
        array = array.data
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ParameterError(f"{what}: expected an RGB image (H, W, 3), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ParameterError(f"{what}: image has no pixels")
    plane = np.ascontiguousarray(to_uint8(array))
    if keep is None or keep.all():
        return plane
    # Statistics count pixels, not their arrangement: the kept pixels as one column.
    return np.ascontiguousarray(plane[keep][:, None, :])


def as_image_batch(image_or_images) -> list[np.ndarray]:
    """Normalise one image, a list of images or an (N, H, W, 3) batch to RGB uint8 planes.

    A batch is returned as a single (N*H, W, 3) plane (pixels are what count,
    not their arrangement), so statistics over 1,000 sprites cost one call.
    Floats in [0, 1] are converted with :func:`diffprob.stats.io.to_uint8`; (H, W)
    arrays are treated as grayscale.

    A :class:`numpy.ma.MaskedArray` (e.g. from ``load_image(path, alpha="ignore")``)
    contributes only its unmasked pixels (a pixel counts when none of its channels
    is masked), as a ``(K, 1, 3)`` column; ParameterError if nothing is left.

    Examples
    --------
    >>> [p.shape for p in as_image_batch(np.zeros((10, 16, 16, 3), np.uint8))]
    [(160, 16, 3)]
    >>> image = np.ma.MaskedArray(np.zeros((2, 2, 3), np.uint8))
    >>> image[0, 0] = np.ma.masked
    >>> [p.shape for p in as_image_batch(image)]
    [(3, 1, 3)]
    """
    if np.ma.isMaskedArray(image_or_images) and image_or_images.ndim == 4:
        image_or_images = list(image_or_images)
    if isinstance(image_or_images, np.ndarray) and image_or_images.ndim == 4:
        batch = image_or_images
        if batch.shape[0] == 0:
            raise ParameterError("empty batch of images")
        n, h, w = batch.shape[:3]
        return [_one_image(batch.reshape(n * h, w, *batch.shape[3:]), "batch")]
    if isinstance(image_or_images, (list, tuple)):
        if not image_or_images:
            raise ParameterError("no images given")
        planes = [_one_image(im, f"image {i}") for i, im in enumerate(image_or_images)]
        planes = [p for p in planes if p.size]
        if not planes:
            raise ParameterError("every pixel is masked: nothing to count")
        total = sum(p.size for p in planes)
        if len(planes) > 1 and len({p.shape[1:] for p in planes}) == 1 and total <= 1 << 26:
            # Many small images of one width: one plane, so one OpenCV call per channel.
            return [np.concatenate(planes, axis=0)]
        return planes
    plane = _one_image(image_or_images, "image")
    if not plane.size:
        raise ParameterError("every pixel is masked: nothing to count")
    return [plane]
