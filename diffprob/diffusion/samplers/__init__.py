"""The samplers of the reverse process, one per module, and their settings.

* :mod:`~diffprob.diffusion.samplers.config` -- :class:`SamplerConfig`, the settings of
  one sampling call and their defaults;
* :mod:`~diffprob.diffusion.samplers.ddpm` -- :class:`DDPMSampler`, ancestral sampling
  (Ho et al. 2020, algorithm 2);
* :mod:`~diffprob.diffusion.samplers.ddim` -- :class:`DDIMSampler` (Song et al. 2021, eq. 12);
* :mod:`~diffprob.diffusion.samplers.dpm_solver` -- :class:`DPMSolverSampler`,
  DPM-Solver++(2M) (Lu et al. 2022b);
* :mod:`~diffprob.diffusion.samplers.timesteps` -- :func:`ddim_timesteps`, the timesteps
  the few-step samplers visit;
* :mod:`~diffprob.diffusion.samplers.base` -- the interface they share;
* :mod:`~diffprob.diffusion.samplers.factory` -- :func:`make_sampler`, a sampler from a config.
"""

from diffprob.diffusion.samplers.base import Sampler
from diffprob.diffusion.samplers.config import SamplerConfig
from diffprob.diffusion.samplers.ddim import DDIMSampler
from diffprob.diffusion.samplers.ddpm import DDPMSampler
from diffprob.diffusion.samplers.dpm_solver import DPMSolverSampler
from diffprob.diffusion.samplers.factory import make_sampler
from diffprob.diffusion.samplers.timesteps import ddim_timesteps

__all__ = [
    "DDIMSampler",
    "DDPMSampler",
    "DPMSolverSampler",
    "Sampler",
    "SamplerConfig",
    "ddim_timesteps",
    "make_sampler",
]
