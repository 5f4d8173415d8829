r"""DPM-Solver++(2M) (Lu et al. 2022b): a second-order multistep solver of the diffusion ODE.

It follows the same probability-flow ODE as DDIM with eta = 0, in the log-SNR
lambda_t = log(sqrt(alpha_bar_t) / sqrt(1 - alpha_bar_t)), and extrapolates the
predicted x0 linearly in lambda from the last two model calls, so that its error falls
as h^2 instead of h with the step h.
"""

from __future__ import annotations

import math

import torch

from diffprob.diffusion.samplers.base import FewStepSampler, scalar_at
from diffprob.diffusion.schedule import NoiseSchedule

__all__ = ["DPMSolverSampler"]


class DPMSolverSampler(FewStepSampler):
    r"""DPM-Solver++(2M) of Lu et al. (2022b): a second-order multistep ODE solver.

    It follows the same probability-flow ODE as DDIM with eta = 0 (its first-order step
    *is* the DDIM step), but extrapolates the predicted x0 linearly in log-SNR from the
    last two model calls, so that its error falls as h^2 instead of h with the step h.
    One model call per step, like DDIM; deterministic given the initial noise.

    Parameters
    ----------
    schedule : NoiseSchedule
        The forward process the model was trained with.
    steps : int, optional
        Number of reverse steps S, 1 <= S <= T (default 25, or T if T < 25), on the same
        timesteps as :class:`~diffprob.diffusion.samplers.ddim.DDIMSampler`
        (:func:`~diffprob.diffusion.samplers.timesteps.ddim_timesteps`).
    clip_x0 : bool, optional
        Clip each predicted x0 to [-1, 1] before it enters the update (default True).
    spacing : {"uniform", "quadratic"}, optional
        Which timesteps to visit (:func:`~diffprob.diffusion.samplers.timesteps.ddim_timesteps`).

    Notes
    -----
    With :math:`\alpha_t = \sqrt{\bar\alpha_t}`, :math:`\sigma_t = \sqrt{1-\bar\alpha_t}`,
    :math:`\lambda_t = \log(\alpha_t/\sigma_t)` and :math:`h = \lambda_s - \lambda_t` for a
    step from t to s < t (Lu et al. 2022b, algorithm 2):

    .. math::
        x_s = \frac{\sigma_s}{\sigma_t}\,x_t + \alpha_s\,(1 - e^{-h})\,D,\qquad
        D = \Big(1 + \frac{1}{2r}\Big)\hat x_0(t) - \frac{1}{2r}\,\hat x_0(t'),\quad
        r = \frac{h'}{h},

    where t' is the timestep before t and h' the previous step. The first step and the last
    (to t = 0) use D = x0(t), the DDIM step: at zero terminal SNR the first step starts at
    lambda = -inf and the last ends at lambda = +inf, where r is undefined (the last-step rule
    is diffusers' ``lower_order_final``). The sampler keeps the previous x0, so it expects
    its timesteps in order; a sequence that starts again at ``timesteps[0]`` starts afresh.

    Examples
    --------
    >>> sampler = DPMSolverSampler(NoiseSchedule(500), steps=4)
    >>> sampler.timesteps, sampler.prev_timestep(125)
    ([500, 375, 250, 125], 0)
    """

    name = "dpmpp-2m"

    def __init__(
        self,
        schedule: NoiseSchedule,
        steps: int | None = None,
        *,
        clip_x0: bool = True,
        spacing: str = "uniform",
    ):
        super().__init__(schedule, steps, clip_x0, spacing)
        self.eta = None  # deterministic: no noise option
        self._history: tuple[int, torch.Tensor] | None = None  # (t', x0(t')) of the last step

    def _log_snr(self, t: int) -> float:
        """lambda_t = log(alpha_t / sigma_t); -inf at zero SNR, +inf at t = 0."""
        ab = scalar_at(self.schedule.alpha_bar, t)
        if ab <= 0.0:
            return -math.inf
        if ab >= 1.0:
            return math.inf
        return 0.5 * (math.log(ab) - math.log1p(-ab))

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to x_s, s = ``prev_timestep(t)``; `generator` is unused (no noise).

        Notation (paper -> code): t_{i-1} -> ``t``, t_i -> ``s``, t_{i-2} -> ``t_before``,
        x0_theta(x_{t_{i-1}}) -> ``x0``, x0_theta(x_{t_{i-2}}) -> ``x0_before``,
        lambda -> ``lam_*``, h_i -> ``h``, h_{i-1} -> ``h_before``, r_i -> ``r``,
        D_i -> ``d``, alpha_t, sigma_t -> ``alpha_*``, ``sigma_*``.
        """
        s = self.prev_timestep(t)
        # 1. The predicted x0 at t (clipped to the data range if asked).
        x0, _ = self.schedule.split_prediction(model_output, x_t, t)
        if self.clip_x0:
            x0 = x0.clamp(-1, 1)
        # 2. The step in log-SNR, h = lambda_s - lambda_t.
        lam_t, lam_s = self._log_snr(t), self._log_snr(s)
        h = lam_s - lam_t
        # 3. D: first order (x0 itself, the DDIM step), or second order from the last two x0.
        d = x0
        if self._history is not None and math.isfinite(h):
            t_before, x0_before = self._history
            h_before = lam_t - self._log_snr(t_before)
            # Only the step just taken counts: a new run (t = T again) or a skipped step
            # leaves a history that does not lead to t, and the step falls back to DDIM's.
            if self._prev.get(t_before) == t and math.isfinite(h_before):
                r = h_before / h
                d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_before
        self._history = (t, x0)
        # 4. x_s = (sigma_s / sigma_t) x_t + alpha_s (1 - e^{-h}) D.
        ab_t = scalar_at(self.schedule.alpha_bar, t)
        ab_s = scalar_at(self.schedule.alpha_bar, s)
        sigma_t, sigma_s = math.sqrt(1 - ab_t), math.sqrt(1 - ab_s)
        alpha_t, alpha_s = math.sqrt(ab_t), math.sqrt(ab_s)
        # alpha_s (1 - e^{-h}) written without h: e^{-h} = alpha_t sigma_s / (sigma_t alpha_s),
        # finite at alpha_t = 0 (zero terminal SNR) and at s = 0 (sigma_s = 0, x_s = D).
        return (sigma_s / sigma_t) * x_t + (alpha_s - alpha_t * sigma_s / sigma_t) * d
