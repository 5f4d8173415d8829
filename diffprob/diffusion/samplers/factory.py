"""Build a sampler from a :class:`~diffprob.diffusion.samplers.config.SamplerConfig`."""

from __future__ import annotations

from diffprob.diffusion.samplers.config import SamplerConfig
from diffprob.diffusion.samplers.ddim import DDIMSampler
from diffprob.diffusion.samplers.ddpm import DDPMSampler
from diffprob.diffusion.samplers.dpm_solver import DPMSolverSampler
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

__all__ = ["make_sampler"]


def make_sampler(
    schedule: NoiseSchedule, config: SamplerConfig | None = None, **options
) -> DDPMSampler | DDIMSampler | DPMSolverSampler:
    """The :class:`DDPMSampler`, :class:`DDIMSampler` or :class:`DPMSolverSampler` of `config`.

    Parameters
    ----------
    schedule : NoiseSchedule
        The forward process the model was trained with.
    config : SamplerConfig, optional
        The settings (default ``SamplerConfig()``: DPM-Solver++(2M), 25 quadratic steps).
    **options
        Settings that override the config's (``sampler=``, ``steps=``, ...), as in
        :meth:`SamplerConfig.from_options`. ``guidance`` is not the sampler's business
        and is ignored here.

    Notes
    -----
    The rules that need T are checked here: DDPM visits all T steps, so its `steps` must
    be None or T, and the few-step samplers need ``steps <= T``.

    Examples
    --------
    >>> make_sampler(NoiseSchedule(100), sampler="ddim", steps=10).timesteps[:3]
    [100, 90, 80]
    """
    config = SamplerConfig.from_options(config, **options)
    if config.sampler == "ddpm":
        if config.steps is not None and config.steps != schedule.num_timesteps:
            raise ParameterError(
                f"the DDPM sampler takes all {schedule.num_timesteps} steps; got "
                f"steps={config.steps} (use the DDIM sampler for fewer steps)"
            )
        return DDPMSampler(schedule, variance=config.variance, clip_x0=config.clip_x0)
    if config.sampler == "ddim":
        return DDIMSampler(
            schedule,
            config.steps,
            eta=config.eta,
            clip_x0=config.clip_x0,
            spacing=config.timestep_spacing,
        )
    return DPMSolverSampler(
        schedule, config.steps, clip_x0=config.clip_x0, spacing=config.timestep_spacing
    )
