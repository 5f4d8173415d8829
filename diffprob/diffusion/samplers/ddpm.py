"""DDPM ancestral sampling (Ho, Jain & Abbeel 2020, algorithm 2) over every timestep T..1.

Each step draws x_{t-1} from the learned reverse transition
p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I), with the mean of algorithm 2 (eq. 11)
or, equivalently, the posterior mean of eq. 7 at the predicted x0.
"""

from __future__ import annotations

import math

import torch

from diffprob.diffusion.rng import as_generator, randn
from diffprob.diffusion.samplers.base import Sampler, scalar_at
from diffprob.diffusion.samplers.config import check_variance
from diffprob.diffusion.schedule import NoiseSchedule

__all__ = ["DDPMSampler"]


class DDPMSampler(Sampler):
    """Ancestral sampling of Ho et al. (2020), algorithm 2, over every timestep T..1.

    Parameters
    ----------
    schedule : NoiseSchedule
        The forward process the model was trained with.
    variance : {"beta", "posterior"}, optional
        sigma_t^2 of the reverse step: ``"beta"`` = beta_t (the course's choice and the
        upper bound of Ho et al.), ``"posterior"`` = beta~_t = (1 - alpha_bar_{t-1}) /
        (1 - alpha_bar_t) beta_t (the lower bound; eq. 7).
    clip_x0 : bool, optional
        If True (default, as in Ho et al.'s released code and diffusers' ``clip_sample``),
        the mean is computed from the predicted x0 clipped to [-1, 1] (eqs. 7 and 15);
        when no clipping happens this is exactly the mean of algorithm 2. If False, the
        mean is algorithm 2's formula verbatim (as in the course).

    Notes
    -----
    One step, for t = T, ..., 1 (algorithm 2):

    .. math:: x_{t-1} = \\frac{1}{\\sqrt{\\alpha_t}}\\Big(x_t - \\frac{\\beta_t}
              {\\sqrt{1-\\bar\\alpha_t}}\\,\\epsilon_\\theta(x_t, t)\\Big) + \\sigma_t z,
              \\quad z \\sim N(0, I) \\text{ if } t > 1 \\text{ else } z = 0.

    Examples
    --------
    >>> sampler = DDPMSampler(NoiseSchedule(4))
    >>> sampler.timesteps, sampler.prev_timestep(1)
    ([4, 3, 2, 1], 0)
    """

    name = "ddpm"

    def __init__(self, schedule: NoiseSchedule, *, variance: str = "beta", clip_x0: bool = True):
        self.schedule = schedule
        self.variance = check_variance(variance)
        self.clip_x0 = bool(clip_x0)
        self.timesteps = list(range(schedule.num_timesteps, 0, -1))
        self.eta = None

    def prev_timestep(self, t: int) -> int:
        return t - 1

    def sigma(self, t: int) -> float:
        """Standard deviation sigma_t of the noise added when stepping from t to t - 1."""
        s = self.schedule
        table = s.betas if self.variance == "beta" else s.posterior_variance
        return math.sqrt(scalar_at(table, t))

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to a draw of x_{t-1} given the network's output (noise or velocity).

        Notation (paper -> code): alpha_t -> ``alpha_t``, beta_t -> ``beta_t``,
        alpha_bar_t -> ``alpha_bar_t``, eps_theta(x_t, t) -> ``eps`` (or, through the
        schedule, the velocity ``model_output``), x0_hat -> ``x0``,
        mu~_t(x_t, x0) -> ``mean``, sigma_t -> ``self.sigma(t)``.
        """
        s = self.schedule
        # 1. The mean of p(x_{t-1} | x_t).
        if self.clip_x0 or s.config.prediction_type != "epsilon":
            # 1a. The predicted x0 (clipped to the data range if asked), then the
            # posterior mean of eq. 7: mu~_t(x_t, x0) = coef_x0 * x0 + coef_xt * x_t.
            # Without clipping this equals algorithm 2's mean, and it stays finite at
            # alpha_bar_T = 0, where algorithm 2 would divide by sqrt(alpha_T) = 0.
            x0, _ = s.split_prediction(model_output, x_t, t)
            if self.clip_x0:
                x0 = x0.clamp(-1, 1)
            mean = (
                scalar_at(s.posterior_mean_coef_x0, t) * x0
                + scalar_at(s.posterior_mean_coef_xt, t) * x_t
            )
        else:
            # 1b. Algorithm 2, line 4 (equivalently eq. 11), from eps directly.
            alpha_t = scalar_at(s.alphas, t)
            beta_t = scalar_at(s.betas, t)
            alpha_bar_t = scalar_at(s.alpha_bar, t)
            eps = model_output
            mean = (x_t - beta_t / math.sqrt(1 - alpha_bar_t) * eps) / math.sqrt(alpha_t)
        # 2. Algorithm 2, line 3: z = 0 at the last step, whose output is the mean.
        if t == 1:
            return mean
        # 3. x_{t-1} = mean + sigma_t z, z ~ N(0, I).
        z = randn(x_t.shape, as_generator(generator), x_t.device, x_t.dtype)
        return mean + self.sigma(t) * z
