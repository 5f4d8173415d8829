"""A sample photograph-like image, made procedurally (no download, no licence).

``data/sample.png`` in the repository is ``make_sample_image(256, 256, seed=0)``
written by :func:`diffprob.stats.io.save_image`; :func:`sample_image` reads it and
falls back to generating it when the package is installed without ``data/``.
"""

from __future__ import annotations

import numpy as np

from diffprob.util.paths import data_path

__all__ = ["make_sample_image", "sample_image", "SAMPLE_PATH"]

#: Where the shipped sample lives in a source checkout / editable install.
SAMPLE_PATH = data_path("sample.png")


def make_sample_image(height: int = 256, width: int = 256, *, seed: int = 0) -> np.ndarray:
    """A colourful landscape: sky gradient, sun, hills, a lake, shapes and grain.

    Smooth gradients give broad, overlapping channel distributions, the flat
    shapes give spikes, and the sky/grass give strongly correlated and
    anti-correlated channel pairs, so every statistic has something to show.

    Parameters
    ----------
    height, width : int
        Size in pixels (any; features scale with the image).
    seed : int
        Seed of the film grain and of the shapes' placement.

    Returns
    -------
    ndarray of uint8, shape (height, width, 3)

    Examples
    --------
    >>> image = make_sample_image(64, 96)
    >>> image.shape, image.dtype
    ((64, 96, 3), dtype('uint8'))
    >>> bool(np.array_equal(image, make_sample_image(64, 96)))
    True
    """
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    aspect = width / max(height, 1)
    img = np.empty((height, width, 3), np.float32)

    # Sky: deep blue at the top to a warm haze near the horizon.
    t = np.broadcast_to(y / 0.6, (height, width))
    for c, (top, bottom) in enumerate(((0.10, 0.98), (0.25, 0.75), (0.65, 0.55))):
        img[..., c] = top + (bottom - top) * np.clip(t, 0, 1)
    # Sun with a soft glow.
    d_sun = np.hypot((x - 0.72) * aspect, y - 0.28)
    glow = np.exp(-((d_sun / 0.12) ** 2))[..., None]
    img = img * (1 - glow) + np.array([1.0, 0.92, 0.6], np.float32) * glow
    # Two ranges of hills, then grass with a brightness ripple.
    far = 0.55 + 0.06 * np.sin(9 * x + 1.0) + 0.03 * np.sin(23 * x)
    near = 0.68 + 0.07 * np.sin(5 * x + 2.5) + 0.02 * np.sin(31 * x + 0.3)
    hill_far = (y > far)[..., None]
    img = np.where(
        hill_far, np.array([0.35, 0.45, 0.55], np.float32) * (0.8 + 0.4 * y[..., None]), img
    )
    ground = (y > near)[..., None]
    shade = (0.55 + 0.45 * (1 - y) + 0.1 * np.sin(40 * x + 12 * y))[..., None]
    img = np.where(ground, np.array([0.30, 0.62, 0.20], np.float32) * shade, img)
    # A lake reflecting the sky.
    lake = ((((x - 0.3) * aspect / 0.28) ** 2 + ((y - 0.85) / 0.07) ** 2) < 1)[..., None]
    img = np.where(lake, np.array([0.20, 0.45, 0.80], np.float32) * (1.3 - 0.5 * y[..., None]), img)
    # Flat, saturated shapes (a red house, a yellow roof, a magenta kite).
    house = (abs(x - 0.15) < 0.05) & (y > 0.62) & (y < 0.74)
    roof = (y <= 0.62) & (y > 0.56) & (abs(x - 0.15) < (y - 0.56) * 1.2)
    kite = (abs(x - 0.45) * aspect + abs(y - 0.2) * 0.8) < 0.06
    for mask, color in (
        (house, (0.85, 0.12, 0.10)),
        (roof, (0.95, 0.85, 0.15)),
        (kite, (0.85, 0.15, 0.75)),
    ):
        img[mask] = color
    # Film grain, so histograms look like a photograph's rather than a drawing's.
    img += rng.normal(0.0, 0.02, img.shape).astype(np.float32)
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def sample_image() -> np.ndarray:
    """The shipped sample (``data/sample.png``), or the same image generated.

    Examples
    --------
    >>> sample_image().shape
    (256, 256, 3)
    """
    if SAMPLE_PATH.is_file():
        from diffprob.stats.io import load_image

        return load_image(SAMPLE_PATH)
    return make_sample_image(256, 256, seed=0)
