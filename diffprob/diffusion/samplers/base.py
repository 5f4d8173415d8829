"""The interface every sampler shares, and what the few-step samplers have in common.

A sampler, in the style of diffusers' schedulers, holds the descending list of
``timesteps`` it visits and maps the state x_t at one of them to the state at the
previous visited timestep with ``step(model_output, t, x_t, generator)``; the loop around
it is :func:`~diffprob.diffusion.sampling.sample`. Notation follows
:mod:`diffprob.diffusion.schedule`: timesteps 0..T, index 0 = clean image,
``alpha_bar_0 = 1``.
"""

from __future__ import annotations

import torch

from diffprob.diffusion.samplers.config import DEFAULT_DDIM_STEPS
from diffprob.diffusion.samplers.timesteps import ddim_timesteps
from diffprob.diffusion.schedule import NoiseSchedule

__all__ = ["FewStepSampler", "Sampler", "scalar_at"]


def scalar_at(table: torch.Tensor, t: int) -> float:
    """Entry t of a schedule table (alpha_bar, betas, ...) as a Python float."""
    return float(table[t])


class Sampler:
    """The sampler interface: ``timesteps``, ``prev_timestep(t)`` and ``step``.

    Attributes
    ----------
    name : str
        The name :func:`~diffprob.diffusion.samplers.factory.make_sampler` knows it by.
    schedule : NoiseSchedule
        The forward process the model was trained with.
    timesteps : list of int
        The timesteps visited, descending from T; the last step goes to t = 0.
    clip_x0 : bool
        Whether each predicted x0 is clipped to [-1, 1].
    eta : float or None
        DDIM's noise scale; None for the samplers that have none.
    """

    name: str
    schedule: NoiseSchedule
    timesteps: list[int]
    clip_x0: bool
    eta: float | None = None

    def prev_timestep(self, t: int) -> int:
        """The timestep that ``step`` at t goes to."""
        raise NotImplementedError

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to the state at ``prev_timestep(t)`` given the network's output."""
        raise NotImplementedError


class FewStepSampler(Sampler):
    """What DDIM and DPM-Solver share: the timesteps they visit, and clipping of x0."""

    def __init__(self, schedule: NoiseSchedule, steps: int | None, clip_x0: bool, spacing: str):
        if steps is None:
            steps = min(DEFAULT_DDIM_STEPS, schedule.num_timesteps)
        self.schedule = schedule
        self.clip_x0 = bool(clip_x0)
        self.spacing = spacing
        self.timesteps = ddim_timesteps(schedule.num_timesteps, steps, spacing)
        # The step after the last visited timestep goes to t = 0, the clean image.
        self._prev = dict(zip(self.timesteps, self.timesteps[1:] + [0], strict=True))

    def prev_timestep(self, t: int) -> int:
        return self._prev[t]
