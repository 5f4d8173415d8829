"""The pixel distribution of x_t under the forward process, measured against theory.

For one image x0 with pixel values x0_i (all channels pooled), the forward process draws
every pixel independently, x_t,i ~ N(sqrt(alpha_bar_t) x0_i, 1 - alpha_bar_t). The
histogram of the pixels of x_t therefore follows the equal-weight Gaussian mixture

.. math:: p_t(x) = \\frac{1}{N} \\sum_i N\\big(x;\\ \\sqrt{\\bar\\alpha_t}\\, x0_i,\\ 1 - \\bar\\alpha_t\\big),

which starts as the image's own histogram (t = 0) and ends close to N(0, 1) (t = T).
:func:`forward_steps` draws x_t at chosen timesteps and compares each with this mixture
(mean, variance, Kolmogorov-Smirnov statistic); :class:`PixelMixture` evaluates it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special, stats

from diffprob.diffusion.rng import as_generator
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

__all__ = ["ForwardStep", "PixelMixture", "forward_steps"]

#: Above this many distinct pixel values, the mixture's components are binned.
MAX_COMPONENTS = 4096


class PixelMixture:
    """The mixture of N(sqrt(alpha_bar) v_k, 1 - alpha_bar) over an image's pixel values.

    Parameters
    ----------
    x0 : array_like
        Clean pixel values (any shape, e.g. (C, H, W) in [-1, 1]); all are pooled.
    alpha_bar : float
        alpha_bar_t in [0, 1]; 1 (t = 0) is the discrete distribution of x0 itself, 0
        (t = T of a zero-terminal-SNR schedule) is N(0, 1) whatever x0.

    Attributes
    ----------
    values, weights : ndarray
        Distinct pixel values v_k of x0 and their frequencies (summing to 1). With more
        than :data:`MAX_COMPONENTS` distinct values (float images), they are binned into
        that many equal-width bins (centres, frequencies).
    mean, var : float
        sqrt(ab) E[x0] and ab Var[x0] + 1 - ab (the law of total variance).

    Examples
    --------
    >>> m = PixelMixture(np.array([-1.0, 1.0]), alpha_bar=0.5)
    >>> round(m.mean, 6), round(m.var, 6)
    (0.0, 1.0)
    >>> round(float(m.cdf(0.0)), 6)
    0.5
    """

    def __init__(self, x0, alpha_bar: float):
        x0 = np.asarray(x0, dtype=np.float64).ravel()
        if x0.size == 0 or not np.all(np.isfinite(x0)):
            raise ParameterError("x0 must be a non-empty array of finite values")
        self._set(*_components(x0), alpha_bar)

    @classmethod
    def _of_components(cls, values, counts, alpha_bar: float) -> PixelMixture:
        """The mixture of already counted pixel values (forward_steps counts them once)."""
        mixture = cls.__new__(cls)
        mixture._set(values, counts, alpha_bar)
        return mixture

    def _set(self, values, counts, alpha_bar: float) -> None:
        alpha_bar = float(alpha_bar)
        if not 0 <= alpha_bar <= 1:
            raise ParameterError(f"alpha_bar must be in [0, 1], got {alpha_bar}")
        self.values = values
        self.weights = counts / counts.sum()
        self.alpha_bar = alpha_bar
        self.loc = math.sqrt(alpha_bar) * values
        self.scale = math.sqrt(1 - alpha_bar)
        mean0 = float(np.dot(self.weights, values))
        var0 = float(np.dot(self.weights, (values - mean0) ** 2))
        self.mean = math.sqrt(alpha_bar) * mean0
        self.var = alpha_bar * var0 + (1 - alpha_bar)

    @property
    def is_discrete(self) -> bool:
        """True at alpha_bar = 1, where the mixture is the histogram of x0 (no density)."""
        return self.scale == 0

    def _sum_components(self, x, per_component) -> np.ndarray:
        # sum_k w_k f((x - loc_k) / scale), in chunks of x so memory stays ~16 MB.
        x = np.asarray(x, dtype=np.float64)
        flat = x.ravel()
        out = np.empty(flat.shape)
        chunk = max(1, 2_000_000 // self.loc.size)
        for start in range(0, flat.size, chunk):
            part = flat[start : start + chunk, None]
            out[start : start + chunk] = per_component(part - self.loc) @ self.weights
        return out.reshape(x.shape)

    def pdf(self, x) -> np.ndarray:
        """Mixture density at `x` (NaN everywhere if :attr:`is_discrete`)."""
        if self.is_discrete:
            return np.full(np.shape(x), np.nan)
        s = self.scale
        return self._sum_components(x, lambda d: np.exp(-0.5 * (d / s) ** 2)) / (
            s * math.sqrt(2 * math.pi)
        )

    def cdf(self, x) -> np.ndarray:
        """Mixture CDF at `x` (a step function if :attr:`is_discrete`)."""
        if self.is_discrete:
            return self._sum_components(x, lambda d: (d >= 0).astype(np.float64))
        return self._sum_components(x, lambda d: special.ndtr(d / self.scale))


def _components(x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of x0 (as float64) and their counts; binned above MAX_COMPONENTS."""
    values, counts = np.unique(x0, return_counts=True)
    if values.size > MAX_COMPONENTS:
        x0 = np.asarray(x0, dtype=np.float64)
        counts, edges = np.histogram(x0, bins=MAX_COMPONENTS)
        values = (edges[:-1] + edges[1:]) / 2
        values, counts = values[counts > 0], counts[counts > 0]
    return values.astype(np.float64), counts


@dataclass
class ForwardStep:
    """x_t at one timestep and how its pixel distribution compares with theory.

    Attributes
    ----------
    t : int
        The timestep.
    alpha_bar : float
        alpha_bar_t.
    x_t : ndarray
        float32, the shape of x0: the noised image.
    mixture : PixelMixture
        The theoretical pixel distribution of x_t.
    mean, var : float
        Measured mean and (population) variance of the pixels of x_t.
    mean_theory, var_theory : float
        ``mixture.mean`` and ``mixture.var``.
    ks_statistic, ks_pvalue : float
        Kolmogorov-Smirnov test of the pixels (a subsample of at most `ks_max`) against
        the mixture CDF; NaN at t = 0, where x_t is x0 by definition.
    """

    t: int
    alpha_bar: float
    x_t: np.ndarray
    mixture: PixelMixture
    mean: float
    var: float
    mean_theory: float
    var_theory: float
    ks_statistic: float
    ks_pvalue: float

    def to_dict(self) -> dict:
        """The numbers (no arrays), e.g. for JSON."""
        keys = ("t", "alpha_bar", "mean", "var", "mean_theory", "var_theory")
        out = {k: getattr(self, k) for k in keys}
        out["ks_statistic"], out["ks_pvalue"] = self.ks_statistic, self.ks_pvalue
        return out


def forward_steps(
    x0,
    schedule: NoiseSchedule,
    timesteps,
    *,
    generator=None,
    ks_max: int = 20_000,
) -> list[ForwardStep]:
    """Draw x_t ~ q(x_t | x0) at each timestep and compare its pixels with theory.

    Parameters
    ----------
    x0 : array_like or torch.Tensor
        The clean image in model range [-1, 1], any shape (e.g. (C, H, W)).
    schedule : NoiseSchedule
        The forward process.
    timesteps : sequence of int
        Timesteps in [0, T].
    generator : torch.Generator or int, optional
        Seeds the noise: one standard-normal draw of x0's shape per timestep, in the
        order given (so a timestep's x_t depends on its position in the list).
    ks_max : int, optional
        Largest number of pixels used by the KS test (a random subsample of larger
        images, drawn from the same generator), to bound its cost.

    Returns
    -------
    list of ForwardStep

    Notes
    -----
    The pixels of x_t are independent but not identically distributed: pixel i is a draw
    from component i of the mixture. They are thus a stratified sample of it (each
    component exactly once), whose empirical CDF deviates from the mixture CDF less than
    an i.i.d. sample would; the KS p-value is conservative (large) under the null.

    Examples
    --------
    >>> x0 = np.linspace(-1, 1, 3 * 16 * 16).reshape(3, 16, 16)
    >>> steps = forward_steps(x0, NoiseSchedule(500), [0, 500], generator=0)
    >>> [s.t for s in steps], abs(steps[0].var - steps[0].var_theory) < 1e-6
    ([0, 500], True)
    >>> abs(steps[1].var - 1) < 0.1, steps[1].ks_pvalue > 0.01
    (True, True)
    """
    x0 = torch.as_tensor(np.asarray(x0, dtype=np.float32))
    if x0.numel() == 0 or not torch.isfinite(x0).all():
        raise ParameterError("x0 must be a non-empty array of finite values")
    timesteps = [schedule.check_timestep(t) for t in timesteps]
    if not timesteps:
        raise ParameterError("give at least one timestep")
    if isinstance(ks_max, bool) or not isinstance(ks_max, int) or ks_max < 1:
        raise ParameterError(f"ks_max must be an integer >= 1, got {ks_max!r}")
    generator = as_generator(generator)
    # Counted once, on the float32 pixels (exact in float64): no float64 copy of the image.
    components = _components(x0.numpy().ravel())
    steps = []
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=generator)
        x_t = schedule.q_sample(x0[None], t, noise[None])[0].numpy()
        alpha_bar = float(schedule.alpha_bar[t])
        mixture = PixelMixture._of_components(*components, alpha_bar)
        pixels = x_t.ravel().astype(np.float64)
        if t == 0:
            ks_stat, ks_p = math.nan, math.nan
        else:
            if pixels.size > ks_max:
                pick = torch.randperm(pixels.size, generator=generator)[:ks_max].numpy()
                pixels_ks = pixels[pick]
            else:
                pixels_ks = pixels
            ks = stats.kstest(pixels_ks, mixture.cdf)
            ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
        steps.append(
            ForwardStep(
                t=t,
                alpha_bar=alpha_bar,
                x_t=x_t,
                mixture=mixture,
                mean=float(pixels.mean()),
                var=float(pixels.var()),
                mean_theory=mixture.mean,
                var_theory=mixture.var,
                ks_statistic=ks_stat,
                ks_pvalue=ks_p,
            )
        )
    return steps
