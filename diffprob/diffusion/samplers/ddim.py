"""The DDIM sampler (Song, Meng & Ermon 2021, eq. 12) on a sub-sequence of the timesteps.

One step from timestep t to the previous visited timestep s predicts x0, keeps the
part of the noise that eq. 12 keeps, and adds fresh noise of scale sigma (eq. 16 times
eta): eta = 0 is the deterministic DDIM, eta = 1 the DDPM posterior.
"""

from __future__ import annotations

import math

import torch

from diffprob.diffusion.rng import as_generator, randn
from diffprob.diffusion.samplers.base import FewStepSampler, scalar_at
from diffprob.diffusion.samplers.config import check_eta
from diffprob.diffusion.schedule import NoiseSchedule

__all__ = ["DDIMSampler"]


class DDIMSampler(FewStepSampler):
    """The generalised (DDIM) sampler of Song et al. (2021), eq. 12, on a sub-sequence.

    Parameters
    ----------
    schedule : NoiseSchedule
        The forward process the model was trained with.
    steps : int, optional
        Number of reverse steps S, 1 <= S <= T (default 25, or T if T < 25); the visited
        timesteps are :func:`~diffprob.diffusion.samplers.timesteps.ddim_timesteps`.
    eta : float, optional
        Scale of the noise, in [0, 1]: 0 (default) makes sampling deterministic given the
        initial noise; 1 uses the DDPM posterior variance (with S = T it is exactly
        :class:`~diffprob.diffusion.samplers.ddpm.DDPMSampler` with ``variance="posterior"``).
    clip_x0 : bool, optional
        Clip the predicted x0 to [-1, 1] (default True, as diffusers' ``clip_sample``)
        and re-derive the noise from the clipped x0 so the two stay consistent.
    spacing : {"uniform", "quadratic"}, optional
        Which timesteps to visit (:func:`~diffprob.diffusion.samplers.timesteps.ddim_timesteps`).

    Notes
    -----
    From timestep t to the previous visited timestep s (eq. 12, with eq. 16 for sigma):

    .. math::
        \\hat x_0 = \\frac{x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\epsilon}{\\sqrt{\\bar\\alpha_t}},\\quad
        \\sigma = \\eta \\sqrt{\\frac{1-\\bar\\alpha_s}{1-\\bar\\alpha_t}}
                 \\sqrt{1-\\frac{\\bar\\alpha_t}{\\bar\\alpha_s}},

        x_s = \\sqrt{\\bar\\alpha_s}\\,\\hat x_0 + \\sqrt{1-\\bar\\alpha_s-\\sigma^2}\\,\\epsilon
              + \\sigma z.

    Examples
    --------
    >>> sampler = DDIMSampler(NoiseSchedule(500), steps=4, eta=0.0)
    >>> sampler.timesteps, sampler.prev_timestep(125)
    ([500, 375, 250, 125], 0)
    """

    name = "ddim"

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int | None = None,
        *,
        eta: float = 0.0,
        clip_x0: bool = True,
        spacing: str = "uniform",
    ):
        eta = check_eta(eta)
        super().__init__(schedule, steps, clip_x0, spacing)
        self.eta = eta

    def sigma(self, t: int) -> float:
        """Eq. 16 times eta: the noise scale of the step from t to its predecessor."""
        s = self.schedule
        ab_t = scalar_at(s.alpha_bar, t)
        ab_prev = scalar_at(s.alpha_bar, self.prev_timestep(t))
        return self.eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to x_s, s = ``prev_timestep(t)``, given the network's output.

        Notation (paper -> code): alpha_t (Song et al.'s, our alpha_bar_t) -> ``ab_t``,
        alpha_{t-1} (at the previous visited timestep s) -> ``ab_prev``,
        eps_theta(x_t) -> ``eps``, "predicted x0" -> ``x0``, sigma_t(eta) -> ``sigma``,
        "direction pointing to x_t" -> ``direction``, x_{t-1} -> ``x_prev``.
        """
        s = self.schedule
        # 1. alpha_bar at both ends of the step.
        ab_t = scalar_at(s.alpha_bar, t)
        ab_prev = scalar_at(s.alpha_bar, self.prev_timestep(t))
        # 2. Eq. 12, first term: the "predicted x0" (and the noise it implies).
        x0, eps = s.split_prediction(model_output, x_t, t)
        # 3. Clip x0, and re-derive eps from the clipped x0 so the two stay consistent.
        if self.clip_x0:
            x0 = x0.clamp(-1, 1)
            eps = (x_t - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
        # 4. Eq. 16: sigma_t(eta).
        sigma = self.sigma(t)
        # 5. Eq. 12, second term: "direction pointing to x_t"; max() guards rounding below 0.
        direction = math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        # 6. Eq. 12 without the noise term.
        x_prev = math.sqrt(ab_prev) * x0 + direction
        # 7. Eq. 12, third term: random noise (none for eta = 0 or the last step).
        if sigma > 0:
            x_prev = x_prev + sigma * randn(
                x_t.shape, as_generator(generator), x_t.device, x_t.dtype
            )
        return x_prev
