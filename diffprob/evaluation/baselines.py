"""Reference models that a generative model must beat.

* :class:`IndependentPixelModel` -- every pixel position and channel drawn
  independently from its own marginal distribution over the training set (per
  class if labels are given). It has exactly the right per-pixel marginals and
  therefore the right pooled colour PMFs in expectation, but no joint structure:
  no outlines, no symmetry, no coherent colours. A model that only matches
  colour histograms cannot be told apart from it; one that learned shapes can.
* :func:`pure_noise` -- the sampler's starting point x_T ~ N(0, I), mapped to
  8-bit images: what a diffusion model produces before it has learned anything.
* Held-out real images are the third baseline (a second real sample of the same
  size: what sampling noise alone gives); they need no code here -- see
  :func:`diffprob.evaluate`.
"""

from __future__ import annotations

import numpy as np

from diffprob.errors import DataError, ParameterError
from diffprob.util.validation import check_image_batch

__all__ = ["IndependentPixelModel", "pure_noise"]


class IndependentPixelModel:
    """Sample every pixel and channel independently from its training marginal.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (n, height, width, channels)
        The training images.
    labels : array_like of int, shape (n,), optional
        Class labels. With labels, each class gets its own marginals and
        :meth:`sample` can be asked for a class.

    Attributes
    ----------
    image_shape : tuple of int
        ``(height, width, channels)``.
    classes : numpy.ndarray of int64
        The labels present in the training set (empty without labels).

    Notes
    -----
    For position (i, j) and channel c the model draws

    .. math:: x_{ijc} \\sim \\hat P_{ijc}(v) = \\frac{1}{n}
              \\sum_{k=1}^{n} [x^{(k)}_{ijc} = v]

    independently of every other position and channel, so the joint distribution
    is the product :math:`\\prod_{ijc} \\hat P_{ijc}`. Drawing from the empirical
    marginal of one position is the same as copying that position from a
    training image picked uniformly at random; the model does exactly that, with
    a fresh pick for every position and channel -- an exact sampler with no
    binning, and fast (one gather per pixel).

    Examples
    --------
    >>> train = np.zeros((2, 1, 2, 3), np.uint8)
    >>> train[1] = 255                        # a black image and a white one
    >>> model = IndependentPixelModel(train)
    >>> fake = model.sample(4000, rng=0)
    >>> fake.shape
    (4000, 1, 2, 3)
    >>> float(fake.mean() / 255).__round__(2)    # each value black or white at 50%
    0.5
    >>> bool((fake == fake[:, :, :, :1]).all())  # but channels no longer agree
    False
    """

    def __init__(self, images, labels=None):
        images = check_image_batch(images, channels=None)
        if len(images) == 0:
            raise DataError("images is empty")
        self.image_shape = images.shape[1:]
        self._flat = images.reshape(len(images), -1)
        if labels is None:
            self._labels = None
            self.classes = np.zeros(0, dtype=np.int64)
            self._members = {None: np.arange(len(images))}
        else:
            labels = np.asarray(labels).astype(np.int64, copy=False)
            if labels.shape != (len(images),):
                raise DataError(f"labels must have shape ({len(images)},), got {labels.shape}")
            self._labels = labels
            self.classes = np.unique(labels)
            self._members = {int(c): np.flatnonzero(labels == c) for c in self.classes}
            self._members[None] = np.arange(len(images))

    def sample(self, n: int | None = None, *, labels=None, rng=None) -> np.ndarray:
        """Draw images.

        Parameters
        ----------
        n : int, optional
            Number of images; needed when `labels` is None.
        labels : int or array_like of int, optional
            Class of each image (an int means all of one class), drawn from that
            class's marginals. None draws from the marginals of the whole
            training set (all classes pooled).
        rng : int or numpy.random.Generator, optional
            Seed or generator.

        Returns
        -------
        numpy.ndarray of uint8, shape (n, height, width, channels)
        """
        if n is not None and int(n) < 0:
            raise ParameterError(f"n must be >= 0, got {n}")
        rng = np.random.default_rng(rng)
        if labels is None:
            if n is None:
                raise ParameterError("give n or labels")
            groups = np.full(int(n), -1, dtype=np.int64)
        else:
            if self._labels is None:
                raise ParameterError("this model was fitted without labels")
            labels = np.asarray(labels, dtype=np.int64)
            if labels.ndim == 0:
                if n is None:
                    raise ParameterError("give n with a single label")
                labels = np.full(int(n), int(labels), dtype=np.int64)
            elif n is not None and int(n) != len(labels):
                raise ParameterError(f"n={n} but {len(labels)} labels given")
            unknown = set(np.unique(labels).tolist()) - set(self.classes.tolist())
            if unknown:
                raise ParameterError(f"no training images of class {sorted(unknown)}")
            groups = labels
        n_values = self._flat.shape[1]
        out = np.empty((len(groups), n_values), dtype=np.uint8)
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            members = self._members[None if group < 0 else int(group)]
            # A fresh training image for every (sample, position, channel).
            source = members[rng.integers(0, len(members), size=(len(rows), n_values))]
            out[rows] = self._flat[source, np.arange(n_values)]
        return out.reshape((len(groups), *self.image_shape))

    def marginals(self, label: int | None = None) -> np.ndarray:
        """The per-position, per-channel PMFs the model samples from.

        Parameters
        ----------
        label : int, optional
            A class; None pools all training images.

        Returns
        -------
        numpy.ndarray of float64, shape (height, width, channels, 256)
            ``P[i, j, c, v]`` = fraction of training images (of that class) with
            value v at position (i, j) in channel c.
        """
        if label is not None and self._labels is None:
            raise ParameterError("this model was fitted without labels")
        if label is not None and int(label) not in self._members:
            raise ParameterError(f"no training images of class {label}")
        members = self._members[None if label is None else int(label)]
        values = self._flat[members]
        n_values = values.shape[1]
        # One bincount over (position, value) pairs counts every marginal at once.
        codes = np.arange(n_values) * 256 + values.astype(np.int64)
        counts = np.bincount(codes.ravel(), minlength=n_values * 256).reshape(n_values, 256)
        return (counts / len(members)).reshape((*self.image_shape, 256))


def pure_noise(n: int, size: int = 16, *, channels: int = 3, rng=None) -> np.ndarray:
    """Images of pure Gaussian noise, as a diffusion sampler starts from.

    Parameters
    ----------
    n : int
        Number of images.
    size : int, optional
        Height and width.
    channels : int, optional
        Number of channels.
    rng : int or numpy.random.Generator, optional
        Seed or generator.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, size, size, channels)

    Notes
    -----
    Draws :math:`x_T \\sim \\mathcal N(0, I)` in the model's [-1, 1] range and maps
    it to 8 bits the way generated images are, ``round((x + 1) / 2 * 255)``
    clipped to [0, 255]. About 16% of values land on 0 and 16% on 255
    (:math:`P(|x| > 1) = 0.317`).

    Examples
    --------
    >>> noise = pure_noise(1000, rng=0)
    >>> noise.shape, noise.dtype
    ((1000, 16, 16, 3), dtype('uint8'))
    >>> round(float((noise == 255).mean()), 2)
    0.16
    """
    n, size, channels = int(n), int(size), int(channels)
    if n < 0 or size < 1 or channels < 1:
        raise ParameterError("n must be >= 0 and size, channels >= 1")
    x = np.random.default_rng(rng).standard_normal((n, size, size, channels))
    # The same mapping as diffprob.diffusion.from_model_range, but in float64:
    # that function rounds in float32, which moves a few values in a million by one
    # level, and the shipped numbers were made with this one.
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
