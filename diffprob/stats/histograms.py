"""Per-channel colour distributions: counts, PMF, CDF and moments of images."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from diffprob.errors import ParameterError
from diffprob.stats.colorspaces import as_image_batch, convert, get_space

__all__ = ["ChannelHistograms", "channel_histograms", "entropy_bits", "check_bins"]

# OpenCV returns float32 counts; they are exact integers only below 2**24, so
# no single call may see more pixels than this.
_MAX_PIXELS_PER_CALL = (1 << 24) - 1

MAX_BINS = 256


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def check_bins(bins) -> int:
    """Validate a bin count: an integer in [1, 256] (8-bit data has 256 codes)."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise ParameterError(f"bins must be an integer, got {bins!r}")
    if not 1 <= bins <= MAX_BINS:
        raise ParameterError(f"bins must be in [1, {MAX_BINS}], got {bins}")
    return int(bins)


def row_chunks(plane: np.ndarray, max_pixels: int = _MAX_PIXELS_PER_CALL):
    """Yield row slices of ``plane`` with at most ``max_pixels`` (< 2**24) pixels each."""
    rows = max(1, min(max_pixels, _MAX_PIXELS_PER_CALL) // plane.shape[1])
    for start in range(0, plane.shape[0], rows):
        yield plane[start : start + rows]


def _level_counts(planes: list[np.ndarray], n_channels: int) -> np.ndarray:
    """Exact int64 counts of the 256 codes of each channel, pooled over planes."""
    import cv2

    counts = np.zeros((n_channels, 256), np.int64)
    for plane in planes:
        for chunk in row_chunks(plane):
            for c in range(n_channels):
                hist = cv2.calcHist([chunk], [c], None, [256], [0, 256])
                counts[c] += hist.reshape(-1).astype(np.int64)
    return counts


_CODES = np.arange(256, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def bin_edges(levels: int, bins: int) -> np.ndarray:
    """``linspace(0, levels, bins + 1)``, cached and read-only."""
    return _readonly(np.linspace(0, levels, bins + 1))


@functools.lru_cache(maxsize=64)
def level_to_bin(levels: int, bins: int) -> np.ndarray:
    """Bin of each code 0..levels-1 for ``bins`` equal bins over [0, levels).

    Code ``v`` falls in bin ``floor(v * bins / levels)``, computed in integers,
    i.e. the bin whose edges ``linspace(0, levels, bins + 1)`` bracket it.
    """
    return _readonly((np.arange(levels) * bins) // levels)


def rebin(level_counts: np.ndarray, levels: int, bins: int) -> np.ndarray:
    """Sum counts of codes 0..levels-1 into ``bins`` equal bins (along the last axis)."""
    counts = np.asarray(level_counts)[..., :levels]
    if bins == levels:
        return counts.astype(np.int64, copy=True)
    if bins < levels:  # every bin holds at least one code: contiguous sums
        starts = np.searchsorted(level_to_bin(levels, bins), np.arange(bins))
        return np.add.reduceat(counts, starts, axis=-1).astype(np.int64, copy=False)
    out = np.zeros(counts.shape[:-1] + (bins,), np.int64)
    out[..., level_to_bin(levels, bins)] = counts  # more bins than codes: one code per bin
    return out


def entropy_bits(pmf, axis=-1) -> np.ndarray:
    """Shannon entropy in bits, :math:`-\\sum p \\log_2 p` (0 log 0 = 0).

    Examples
    --------
    >>> float(entropy_bits([0.5, 0.5, 0.0]))
    1.0
    """
    p = np.asarray(pmf, dtype=np.float64)
    if axis is None or p.ndim <= 1:
        p = p[p > 0]
        return 0.0 - p @ np.log2(p)  # 0.0 - x: no -0.0 for a point mass
    safe = np.where(p > 0, p, 1.0)  # 1 log 1 = 0 stands in for 0 log 0
    return 0.0 - (p * np.log2(safe)).sum(axis=axis)


@dataclass(frozen=True)
class ChannelHistograms:
    """Per-channel histograms of one image or a pooled collection.

    Attributes
    ----------
    space : str
        Colour space (``"rgb"``, ``"hsv"``, ``"lab"`` or ``"gray"``).
    channels : tuple of str
        Channel names in order, e.g. ``("R", "G", "B")``.
    levels : tuple of int
        Number of 8-bit codes of each channel (hue has 180).
    counts : ndarray of int64, shape (C, bins)
        Pixels per bin. A channel with fewer bins than ``bins`` (hue at the
        default 256) fills the first ``channel_bins[c]`` columns; the rest are
        zero-width bins at its top edge, with count 0 (CDF 1).
    bin_edges : ndarray, shape (C, bins + 1)
        ``linspace(0, levels[c], channel_bins[c] + 1)``, then repeated top edges:
        bin ``k`` holds codes ``v`` with ``edges[k] <= v < edges[k + 1]``.
    level_counts : ndarray of int64, shape (C, 256)
        Counts of every code (the full-resolution histogram).
    n_pixels, n_images : int
        Pixels per channel and images pooled.
    pmf, cdf : ndarray, shape (C, bins)
        ``counts / n_pixels`` and its running sum (last column 1).
    mean, var, std, skewness : ndarray, shape (C,)
        Moments of the codes (exact, from ``level_counts``; population
        variance; skewness :math:`m_3 / m_2^{3/2}`, NaN for a constant channel).
    entropy_bits : ndarray, shape (C,)
        Entropy of the binned PMF in bits (at most :math:`\\log_2` bins).
    """

    space: str
    channels: tuple[str, ...]
    levels: tuple[int, ...]
    counts: np.ndarray
    bin_edges: np.ndarray
    level_counts: np.ndarray
    n_pixels: int
    n_images: int
    pmf: np.ndarray = field(init=False, repr=False)
    cdf: np.ndarray = field(init=False, repr=False)
    mean: np.ndarray = field(init=False, repr=False)
    var: np.ndarray = field(init=False, repr=False)
    std: np.ndarray = field(init=False, repr=False)
    skewness: np.ndarray = field(init=False, repr=False)
    entropy_bits: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        pmf = self.counts / self.n_pixels
        cdf = np.cumsum(pmf, axis=1)
        for c, b in enumerate(self.channel_bins):
            cdf[c, b - 1 :] = 1.0  # exact from each channel's last bin, whatever the rounding
        weights = self.level_counts / self.n_pixels
        mean = weights @ _CODES
        centred = _CODES - mean[:, None]
        weighted_sq = weights * centred * centred
        var = weighted_sq.sum(axis=1)
        m3 = (weighted_sq * centred).sum(axis=1)
        constant = var <= 0
        skew = m3 / np.where(constant, 1.0, var) ** 1.5
        skew[constant] = np.nan
        derived = {
            "pmf": pmf,
            "cdf": cdf,
            "mean": mean,
            "var": var,
            "std": np.sqrt(var),
            "skewness": skew,
            "entropy_bits": entropy_bits(pmf, axis=1),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, _readonly(value))
        for name in ("counts", "bin_edges", "level_counts"):
            _readonly(getattr(self, name))

    @property
    def bins(self) -> int:
        """Number of bins per channel."""
        return self.counts.shape[1]

    @property
    def channel_bins(self) -> tuple[int, ...]:
        """Bins of each channel (``bins`` capped at the channel's number of codes)."""
        return channel_bins(self.levels, self.bins)

    @property
    def bin_centers(self) -> np.ndarray:
        """Centre of each bin, shape (C, bins), in channel codes."""
        return (self.bin_edges[:, :-1] + self.bin_edges[:, 1:]) / 2

    def channel(self, name: str) -> int:
        """Index of channel ``name`` (case-insensitive)."""
        return get_space(self.space).channel_index(name)

    def stats(self) -> dict[str, dict[str, float]]:
        """Per-channel statistics as plain floats: ``{channel: {mean, var, ...}}``."""
        return {
            name: {
                "mean": float(self.mean[c]),
                "var": float(self.var[c]),
                "std": float(self.std[c]),
                "skewness": float(self.skewness[c]),
                "entropy_bits": float(self.entropy_bits[c]),
            }
            for c, name in enumerate(self.channels)
        }


def channel_histograms(image_or_images, bins=256, space="rgb") -> ChannelHistograms:
    """Histogram every channel of an image, or pool a collection of images.

    Parameters
    ----------
    image_or_images : ndarray or list of ndarray
        An RGB image (H, W, 3), a batch (N, H, W, 3), or a list of RGB images
        of any sizes (their counts are pooled: the colour distribution of the
        whole collection). ``uint8``, or float in [0, 1] (rounded to 8 bits).
    bins : int, optional
        Bins per channel, 1..256; they split each channel's code range
        ``[0, levels)`` evenly (see :mod:`diffprob.stats.colorspaces`). A channel
        never gets more bins than codes: at the default, hue (180 codes) has 180
        bins, one per code, and every other channel 256.
    space : {"rgb", "hsv", "lab", "gray"}, optional
        Colour space, converted with OpenCV's 8-bit conventions.

    Returns
    -------
    ChannelHistograms
        Counts, PMF, CDF, bin edges and per-channel moments and entropy.

    Raises
    ------
    ParameterError
        Bad ``bins`` or ``space``, or something that is not an RGB image.

    Notes
    -----
    Counts come from :func:`cv2.calcHist` (one call per channel) and equal it
    exactly; they are accumulated in int64, in blocks of fewer than 2**24
    pixels because OpenCV returns float32. With :math:`n_k` pixels in bin
    :math:`k` out of :math:`N`,

    .. math:: p_k = n_k / N, \\qquad F_k = \\sum_{j \\le k} p_j, \\qquad
              H = -\\sum_k p_k \\log_2 p_k .

    Examples
    --------
    >>> image = np.zeros((2, 2, 3), np.uint8)
    >>> image[0, :, 0] = 255                       # top row red
    >>> h = channel_histograms(image)
    >>> h.channels, h.counts.shape
    (('R', 'G', 'B'), (3, 256))
    >>> h.pmf[0, [0, 255]], float(h.mean[0]), float(h.entropy_bits[0])
    (array([0.5, 0.5]), 127.5, 1.0)
    >>> channel_histograms(image, bins=4, space="hsv").bin_edges[0]    # hue: [0, 180)
    array([  0.,  45.,  90., 135., 180.])
    >>> channel_histograms(image, space="hsv").channel_bins             # no empty comb
    (180, 256, 256)
    """
    bins = check_bins(bins)
    color_space = get_space(space)
    planes = [convert(p, color_space.name) for p in as_image_batch(image_or_images)]
    n_images = _count_images(image_or_images)
    level_counts = _level_counts(planes, len(color_space.channels))
    counts, edges = _binned(level_counts, color_space.levels, bins)
    return ChannelHistograms(
        space=color_space.name,
        channels=color_space.channels,
        levels=color_space.levels,
        counts=counts,
        bin_edges=edges,
        level_counts=level_counts,
        n_pixels=int(level_counts[0].sum()),
        n_images=n_images,
    )


def channel_bins(levels: tuple[int, ...], bins: int) -> tuple[int, ...]:
    """Bins of each channel: ``bins``, but never more than the channel has codes.

    More bins than codes would leave bins empty by construction (256 bins over
    hue's 180 codes: a comb of 76 empty bins that a reader takes for structure).
    """
    return tuple(min(bins, n) for n in levels)


def _binned(level_counts: np.ndarray, levels: tuple[int, ...], bins: int):
    """(counts, edges) of shape (C, B) and (C, B + 1), B the most bins of any channel.

    A channel with fewer bins (hue) is padded at the top with zero-width bins at its
    last edge: they hold no codes, so its counts and PMF are 0 there and its CDF 1.
    """
    per_channel = channel_bins(levels, bins)
    width = max(per_channel)
    counts = np.zeros((len(levels), width), np.int64)
    edges = np.empty((len(levels), width + 1))
    for c, (n, b) in enumerate(zip(levels, per_channel, strict=True)):
        counts[c, :b] = rebin(level_counts[c], n, b)
        edges[c, : b + 1] = bin_edges(n, b)
        edges[c, b + 1 :] = n
    return counts, edges


def _count_images(image_or_images) -> int:
    if isinstance(image_or_images, (list, tuple)):
        return len(image_or_images)
    if isinstance(image_or_images, np.ndarray) and image_or_images.ndim == 4:
        return image_or_images.shape[0]
    return 1
