"""How precisely a trained network undoes the forward process, in grey levels.

Training asks the network for the noise (or v) in x_t; what a sample is made of in the
end is the clean image it implies, x0_hat(x_t, t). :func:`denoising_error` noises real
8-bit images to chosen timesteps, asks the network for x0_hat, and reports the error in
the units a histogram sees: grey levels, 1/255 of the range. Beside it stands the error
of doing nothing, x_t / sqrt(alpha_bar_t) - x0, whose standard deviation is
``sqrt((1 - alpha_bar_t) / alpha_bar_t) * 127.5`` levels: a network that denoises must
beat it, and on data with a few exact colours (pixel art) an ideal one removes almost
all of it at small t, because every pixel's colour is then recognisable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from diffprob.diffusion.model_range import from_model_range, to_model_range
from diffprob.diffusion.models.inspect import (
    model_device,
    model_n_cfeat,
)
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import DataError, ParameterError
from diffprob.util.validation import check_image_batch

__all__ = ["DenoisingError", "denoising_error"]

#: Grey levels per unit of the model's [-1, 1] range.
LEVELS_PER_UNIT = 127.5


@dataclass(frozen=True)
class DenoisingError:
    """The x0 errors of a network at a few timesteps (from :func:`denoising_error`).

    Attributes
    ----------
    timesteps : numpy.ndarray
        (K,) the timesteps t.
    noise_levels : numpy.ndarray
        (K,) standard deviation, in grey levels, of the error of doing nothing,
        ``x_t / sqrt(alpha_bar_t) - x0`` (infinite where alpha_bar_t = 0).
    errors : numpy.ndarray
        (K, N, H, W, C) float32: x0_hat - x0 in grey levels, before rounding.
    exact : numpy.ndarray
        (K, N, H, W, C) bool: x0_hat rounded to 8 bits (and clipped to [0, 255]) is the
        image's value.
    """

    timesteps: np.ndarray
    noise_levels: np.ndarray
    errors: np.ndarray
    exact: np.ndarray

    def _select(self, values: np.ndarray, mask) -> np.ndarray:
        """values (K, N, H, W, C) -> (K, M): the entries that `mask` keeps."""
        k = values.shape[0]
        if mask is None:
            return values.reshape(k, -1)
        mask = np.asarray(mask, dtype=bool)
        shape = values.shape[1:]
        if mask.shape == shape[:-1]:  # one flag per pixel: all its channels
            mask = np.broadcast_to(mask[..., None], shape)
        if mask.shape != shape:
            raise ParameterError(
                f"mask must have shape {shape[:-1]} (pixels) or {shape}, got {mask.shape}"
            )
        if not mask.any():
            raise ParameterError("mask selects no pixels")
        return values[:, mask]

    def rms(self, mask=None) -> np.ndarray:
        """(K,) root-mean-square error in grey levels, over all values or those in `mask`.

        `mask` is boolean, (N, H, W) for whole pixels or (N, H, W, C) per value.
        """
        return np.sqrt(np.mean(np.square(self._select(self.errors, mask), dtype=np.float64), 1))

    def exact_fraction(self, mask=None) -> np.ndarray:
        """(K,) fraction of values that come back exactly after rounding to 8 bits."""
        return self._select(self.exact, mask).mean(1)


def _labels_to_context(labels, n: int, n_cfeat) -> torch.Tensor | None:
    if labels is None:
        return None
    if n_cfeat is None:
        raise ParameterError("labels need a model with a config (its n_cfeat)")
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ParameterError(f"labels must be {n} integers, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= n_cfeat:
        raise ParameterError(f"labels must be in [0, {n_cfeat - 1}]")
    return torch.eye(n_cfeat)[torch.from_numpy(labels.astype(np.int64))]


@torch.no_grad()
def denoising_error(
    model,
    schedule: NoiseSchedule,
    images,
    timesteps,
    *,
    labels=None,
    seed: int = 0,
    batch_size: int = 256,
    device=None,
) -> DenoisingError:
    """Noise 8-bit images to each timestep and measure the network's x0 in grey levels.

    Parameters
    ----------
    model : callable
        ``model(x_t, t / T, context)``, predicting what `schedule` says
        (``prediction_type``: eps or v); a module is put in eval mode.
    schedule : NoiseSchedule
        The schedule the model was trained with.
    images : numpy.ndarray
        uint8 (N, H, W, C) images, e.g. held-out sprites.
    timesteps : sequence of int
        Timesteps in [1, T].
    labels : array of int, optional
        (N,) class of each image, given to the model as a one-hot context of its
        ``config.n_cfeat`` entries; None gives the null context.
    seed : int, optional
        Seeds the noise. Each timestep draws its own noise from one generator in
        order, so two models measured with the same seed see identical x_t: their
        difference is paired, not two independent draws.
    batch_size : int, optional
    device : str or torch.device, optional
        Default: where the model's parameters are.

    Returns
    -------
    DenoisingError

    Notes
    -----
    x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, and x0_hat comes from the
    network's output by :meth:`~diffprob.diffusion.schedule.NoiseSchedule.split_prediction`. The
    errors are not clipped, so a value the network pushes past 255 counts as an error
    in ``errors`` but not in ``exact`` (rounding and clipping, as
    :func:`~diffprob.sprites.dataset.from_model_range` does for a sample, bring it back).

    Examples
    --------
    A "network" that predicts no noise leaves all of it in x0_hat, so its error is
    the noise level:

    >>> import numpy as np
    >>> import torch
    >>> from diffprob.diffusion.schedule import NoiseSchedule
    >>> images = np.full((64, 16, 16, 3), 128, dtype=np.uint8)
    >>> no_denoising = lambda x, t, c: torch.zeros_like(x)
    >>> err = denoising_error(no_denoising, NoiseSchedule(500), images, [1, 10])
    >>> err.noise_levels.round(2).tolist()
    [1.28, 6.75]
    >>> (np.abs(err.rms() / err.noise_levels - 1) < 0.02).tolist()
    [True, True]
    """
    images = check_image_batch(images, channels=None)  # uint8: the errors are in its levels
    if len(images) == 0:
        raise DataError("images is empty")
    steps = [schedule.check_timestep(t) for t in np.atleast_1d(timesteps).tolist()]
    if not steps or min(steps) < 1:
        raise ParameterError(f"timesteps must be in [1, {schedule.num_timesteps}], got {steps}")
    if int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    context = _labels_to_context(labels, len(images), model_n_cfeat(model))
    device = model_device(model, device)
    if hasattr(model, "eval"):
        model.eval()
    schedule = schedule.to(device)
    x0 = torch.from_numpy(to_model_range(images))
    generator = torch.Generator().manual_seed(int(seed))
    T = schedule.num_timesteps

    errors = np.empty((len(steps), *images.shape), dtype=np.float32)
    exact = np.empty((len(steps), *images.shape), dtype=bool)
    noise_levels = np.empty(len(steps))
    for k, t in enumerate(steps):
        ab = float(schedule.alpha_bar[t])
        noise_levels[k] = math.sqrt((1 - ab) / ab) * LEVELS_PER_UNIT if ab > 0 else math.inf
        noise = torch.randn(x0.shape, generator=generator)
        x0_hat = []
        for start in range(0, len(x0), int(batch_size)):
            x0_b = x0[start : start + int(batch_size)].to(device)
            x_t = schedule.q_sample(x0_b, t, noise[start : start + len(x0_b)].to(device))
            t_norm = torch.full((len(x0_b),), t / T, device=device)
            ctx = None if context is None else context[start : start + len(x0_b)].to(device)
            out = model(x_t, t_norm, ctx)
            x0_hat.append(schedule.split_prediction(out.float(), x_t, t)[0].cpu())
        x0_hat = torch.cat(x0_hat)
        errors[k] = ((x0_hat - x0) * LEVELS_PER_UNIT).permute(0, 2, 3, 1).numpy()
        exact[k] = from_model_range(x0_hat) == images
    return DenoisingError(np.asarray(steps), noise_levels, errors, exact)
