"""The sampling loop: x_T ~ N(0, I), then one sampler step per visited timestep down to x_0.

Like diffusers' pipelines, this module is only the loop. The maths of a step sits in the
samplers (:mod:`diffprob.diffusion.samplers`, chosen by a
:class:`~diffprob.diffusion.samplers.config.SamplerConfig`), the conditioning in
:mod:`diffprob.diffusion.guidance`, the network in :mod:`diffprob.diffusion.models`.
For each visited timestep t, :func:`sample` computes

.. math:: \\tilde\\epsilon = (1 + w)\\,\\epsilon_\\theta(x_t, t, c)
          - w\\,\\epsilon_\\theta(x_t, t, \\varnothing), \\qquad
          x_{\\text{prev}(t)} = \\text{step}(\\tilde\\epsilon, t, x_t)

(or the same with the velocity, for a v-prediction schedule). :class:`SamplingRun` is
the set-up and bookkeeping that :func:`sample` and
:func:`~diffprob.diffusion.inpainting.inpaint` share.

Every random draw goes through one ``torch.Generator`` (or an int seed) and is made on
that generator's device (the CPU by default) and then moved, so a seed gives the same
samples on every device (up to floating-point differences of the model itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from diffprob.diffusion.guidance import guided_eps, resolve_context
from diffprob.diffusion.models.inspect import model_device, model_image_shape, model_n_cfeat
from diffprob.diffusion.rng import as_generator, randn
from diffprob.diffusion.samplers.base import Sampler
from diffprob.diffusion.samplers.config import SamplerConfig
from diffprob.diffusion.samplers.factory import make_sampler
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

__all__ = ["SampleResult", "SamplingRun", "sample"]


@dataclass
class SampleResult:
    """Output of :func:`sample` and :func:`~diffprob.diffusion.inpainting.inpaint`.

    Attributes
    ----------
    images : torch.Tensor
        (n, C, H, W) float samples, on the CPU, in [-1, 1] (clamped).
    timesteps : list of int
        Timesteps visited, in order (the state at each one is fed to the model).
    trajectory : list of torch.Tensor
        Captured states x_t, (n, C, H, W) on the CPU, starting with the initial noise
        and ending with the final images (empty if capture was off).
    trajectory_timesteps : list of int
        The t of each captured state (0 for the final images).
    context : torch.Tensor or None
        The (n, n_cfeat) context used (None: unconditional).
    info : dict
        Sampler settings (sampler, steps, eta, guidance, clip_x0, ...).
    """

    images: torch.Tensor
    timesteps: list
    trajectory: list = field(default_factory=list)
    trajectory_timesteps: list = field(default_factory=list)
    context: torch.Tensor | None = None
    info: dict = field(default_factory=dict)


@dataclass
class SamplingRun:
    """What one call of :func:`sample` or ``inpaint`` sets up once and carries through its loop.

    Build it with :meth:`start`; then :meth:`model_output` per reverse step,
    :meth:`capture` per move, :meth:`result` at the end.
    """

    model: object
    schedule: NoiseSchedule
    config: SamplerConfig
    sampler: Sampler
    device: torch.device
    context: torch.Tensor | None  # (batch, n_cfeat) on the CPU, as returned
    generator: torch.Generator
    batch: int
    trajectory_every: int = 0
    show_progress: bool = True
    trajectory: list = field(default_factory=list)
    trajectory_timesteps: list = field(default_factory=list)
    _context_device: torch.Tensor | None = None

    @classmethod
    def start(
        cls,
        model,
        schedule: NoiseSchedule,
        config: SamplerConfig,
        batch: int,
        *,
        context=None,
        class_names=None,
        generator=None,
        device=None,
        trajectory_every: int = 0,
        progress: bool = True,
    ) -> SamplingRun:
        """Check the arguments, build the sampler, resolve device and context."""
        sampler = make_sampler(schedule, config)
        if trajectory_every < 0:
            raise ParameterError(f"trajectory_every must be >= 0, got {trajectory_every}")
        device = model_device(model, device)
        cond = resolve_context(
            context, batch, n_cfeat=model_n_cfeat(model), class_names=class_names
        )
        generator = as_generator(generator)
        if hasattr(model, "eval"):
            model.eval()
        return cls(
            model=model,
            schedule=schedule,
            config=config,
            sampler=sampler,
            device=device,
            context=cond,
            generator=generator,
            batch=batch,
            trajectory_every=trajectory_every,
            show_progress=progress,
            _context_device=None if cond is None else cond.to(device),
        )

    def noise(self, shape) -> torch.Tensor:
        """Standard normal draws of `shape` from the run's generator, on its device."""
        return randn(shape, self.generator, self.device)

    def model_output(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """The guided network output at (x_t, t), as the sampler's ``step`` takes it."""
        t_norm = torch.full((self.batch,), t / self.schedule.num_timesteps, device=self.device)
        return guided_eps(self.model, x, t_norm, self._context_device, self.config.guidance)

    def capture(self, x: torch.Tensor, t: int, i: int = 0, total: int = 0) -> None:
        """Keep state x_t for the trajectory: always at i = 0 (the start), then every
        ``trajectory_every`` moves and at the last (i = total); nothing if capture is off."""
        every = self.trajectory_every
        if every and (i == 0 or i % every == 0 or i == total):
            self.trajectory.append(x.cpu())
            self.trajectory_timesteps.append(t)

    def progress(self, iterable, desc: str):
        """`iterable`, with a tqdm progress bar on stderr if the run shows progress."""
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, disable=not self.show_progress, leave=False, unit="step")

    def info(self, steps: int) -> dict:
        """The settings that :attr:`SampleResult.info` reports, as the sampler used them."""
        return {
            "sampler": self.sampler.name,
            "steps": steps,
            "eta": self.sampler.eta,
            "guidance": self.config.guidance,
            "clip_x0": self.sampler.clip_x0,
            "spacing": self.config.timestep_spacing,
            "num_timesteps": self.schedule.num_timesteps,
        }

    def result(self, images: torch.Tensor, timesteps: list, info: dict) -> SampleResult:
        """The :class:`SampleResult` of the run, with its trajectory and context."""
        return SampleResult(
            images=images.cpu(),
            timesteps=list(timesteps),
            trajectory=self.trajectory,
            trajectory_timesteps=self.trajectory_timesteps,
            context=self.context,
            info=info,
        )


@torch.no_grad()
def sample(
    model,
    schedule: NoiseSchedule,
    n: int,
    *,
    context=None,
    config: SamplerConfig | None = None,
    generator=None,
    device=None,
    trajectory_every: int = 0,
    progress: bool = True,
    class_names=None,
    x_T: torch.Tensor | None = None,
    image_shape=None,
    clamp: bool = True,
    **sampler_options,
) -> SampleResult:
    """Draw n images from a diffusion model (noise- or velocity-prediction).

    Parameters
    ----------
    model : torch.nn.Module or callable
        ``model(x, t / T, context) -> eps`` (e.g. :class:`diffprob.diffusion.models.unet.ContextUnet`);
        put in eval mode if it is a module.
    schedule : NoiseSchedule
        The schedule the model was trained with.
    n : int
        Number of images.
    context : None, str, int, array_like, optional
        None: unconditional (null context). A class name, index or mixture string
        (:func:`~diffprob.diffusion.guidance.parse_context`, needs `class_names` for
        names), one weight vector for all samples, or an (n, n_cfeat) array (see
        :func:`~diffprob.diffusion.guidance.per_class_context`).
    config : SamplerConfig, optional
        Sampler, steps, spacing, eta, guidance weight, clipping and DDPM variance
        (default ``SamplerConfig()``: DPM-Solver++(2M), quadratic spacing, 25 steps, guidance
        :data:`~diffprob.diffusion.samplers.config.DEFAULT_GUIDANCE`).
    generator : torch.Generator or int, optional
        Drives every random draw (initial noise and per-step noise). Same seed, same output.
    device : str or torch.device, optional
        Where to run (default: the model's device).
    trajectory_every : int, optional
        If k > 0, keep the state every k steps (plus the first and the final) for a GIF.
    progress : bool, optional
        Show a tqdm progress bar on stderr.
    class_names : sequence of str, optional
        Names of the context classes (to parse names in `context`).
    x_T : torch.Tensor, optional
        Initial noise (n, C, H, W) instead of a draw from `generator`.
    image_shape : tuple, optional
        (C, H, W), if the model has no ``config``.
    clamp : bool, optional
        Clamp the final images to the pixel range [-1, 1]; off for a model of latents
        (:mod:`diffprob.stable_diffusion.pipeline`), whose values are not pixels.
    **sampler_options
        The fields of :class:`SamplerConfig` as keywords (``sampler="ddpm"``,
        ``steps=50``, ``guidance=2``, ...); each overrides the field of `config`.

    Returns
    -------
    SampleResult

    Examples
    --------
    >>> from diffprob.diffusion.models.unet import ContextUnet
    >>> model = ContextUnet("tiny").eval()
    >>> result = sample(model, NoiseSchedule(50), 2, sampler="ddim", steps=5, context="1",
    ...                 generator=0, progress=False)
    >>> tuple(result.images.shape), result.timesteps
    ((2, 3, 16, 16), [50, 40, 30, 20, 10])
    >>> config = SamplerConfig(sampler="ddim", steps=5)  # the same settings as one value
    >>> again = sample(model, NoiseSchedule(50), 2, config=config, context="1", generator=0,
    ...                progress=False)
    >>> torch.equal(again.images, result.images)
    True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    config = SamplerConfig.from_options(config, **sampler_options)
    run = SamplingRun.start(
        model,
        schedule,
        config,
        n,
        context=context,
        class_names=class_names,
        generator=generator,
        device=device,
        trajectory_every=trajectory_every,
        progress=progress,
    )
    shape = (n, *model_image_shape(model, image_shape))
    if x_T is None:
        x = run.noise(shape)
    else:
        if tuple(x_T.shape) != shape:
            raise ParameterError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
        x = x_T.to(run.device, torch.float32)

    sampler = run.sampler
    timesteps = sampler.timesteps
    run.capture(x, schedule.num_timesteps)
    for i, t in enumerate(run.progress(timesteps, f"{config.sampler} sampling"), start=1):
        x = sampler.step(run.model_output(x, t), t, x, run.generator)
        run.capture(x, sampler.prev_timestep(t), i, len(timesteps))
    info = run.info(len(timesteps))
    if sampler.name == "ddpm":
        info["variance"] = sampler.variance
    return run.result(x.clamp(-1, 1) if clamp else x, timesteps, info)
