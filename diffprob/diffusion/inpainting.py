"""Inpainting with a diffusion model: regenerate the masked pixels, keep the rest (RePaint).

Algorithm 1 of Lugmayr et al. (2022), "RePaint: Inpainting using Denoising Diffusion
Probabilistic Models": every reverse step from level t to s combines the sampler's step
for the unknown pixels with a fresh forward draw of the known ones,

.. math:: x_s = m \\odot x_s^{\\text{unknown}} + (1 - m) \\odot x_s^{\\text{known}},
          \\quad x_s^{\\text{known}} \\sim q(x_s | x_0),

and, to let the two parts harmonise, the schedule of section 4.2 jumps back up
(:func:`repaint_schedule`) and redoes stretches of steps.
"""

from __future__ import annotations

import math

import torch

from diffprob.diffusion.samplers.base import scalar_at
from diffprob.diffusion.samplers.config import SamplerConfig
from diffprob.diffusion.sampling import SampleResult, SamplingRun
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

__all__ = ["DEFAULT_CONFIG", "inpaint", "repaint_schedule"]

#: The settings :func:`inpaint` starts from: RePaint's DDPM sampler, else the defaults.
DEFAULT_CONFIG = SamplerConfig(sampler="ddpm")


def repaint_schedule(num_levels: int, resample: int = 1, jump_length: int = 1) -> list[int]:
    """The RePaint visiting order of noise levels L, L-1, ..., 0 with jumps back up.

    Parameters
    ----------
    num_levels : int
        L, the number of reverse steps (levels L..0; level 0 is the clean image).
    resample : int, optional
        r >= 1: how many times each stretch of `jump_length` steps is traversed
        (1 = no resampling: plain L..0).
    jump_length : int, optional
        j >= 1: how many levels each jump goes back up (Lugmayr et al., sec. 4.2).

    Returns
    -------
    list of int
        Levels visited, starting at L and ending at 0; consecutive entries differ by 1
        (down: a reverse step; up: a forward step q(x_{l+1} | x_l)).

    Examples
    --------
    >>> repaint_schedule(3)
    [3, 2, 1, 0]
    >>> repaint_schedule(3, resample=2)
    [3, 2, 3, 2, 1, 2, 1, 0]
    >>> repaint_schedule(4, resample=2, jump_length=2)
    [4, 3, 2, 3, 4, 3, 2, 1, 0]
    """
    for name, value in (("resample", resample), ("jump_length", jump_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be an integer >= 1, got {value!r}")
    # Jump back from level l (after arriving there) r - 1 times, at l = L - j, L - 2j, ... >= 1;
    # never from level 0, so the last step is always a reverse step to the clean image.
    jumps = {level: resample - 1 for level in range(num_levels - jump_length, 0, -jump_length)}
    level, order = num_levels, [num_levels]
    while level > 0:
        level -= 1
        order.append(level)
        if jumps.get(level, 0) > 0:
            jumps[level] -= 1
            for _ in range(jump_length):
                level += 1
                order.append(level)
    return order


@torch.no_grad()
def inpaint(
    model,
    schedule: NoiseSchedule,
    image: torch.Tensor,
    mask: torch.Tensor,
    *,
    n: int | None = None,
    context=None,
    config: SamplerConfig | None = None,
    resample: int = 1,
    jump_length: int = 1,
    generator=None,
    device=None,
    trajectory_every: int = 0,
    progress: bool = True,
    class_names=None,
    **sampler_options,
) -> SampleResult:
    """Regenerate the masked region of image(s) consistently with the rest (RePaint).

    Parameters
    ----------
    model, schedule
        As in :func:`~diffprob.diffusion.sampling.sample`.
    image : torch.Tensor
        (C, H, W) or (B, C, H, W) float in [-1, 1]: the known image(s).
    mask : torch.Tensor
        (H, W), (1, H, W), (C, H, W) or (B, ., H, W); 1 = regenerate, 0 = keep.
        Broadcast against `image`; values are used as given (binary recommended).
    n : int, optional
        Number of inpaintings when `image` is one image (default 1); it is repeated.
    context, generator, device, trajectory_every, progress, class_names
        As in :func:`~diffprob.diffusion.sampling.sample`.
    config : SamplerConfig, optional
        As in :func:`~diffprob.diffusion.sampling.sample`, but the default is
        :data:`DEFAULT_CONFIG`, DDPM (as RePaint). The sampler must be ``"ddpm"`` or
        ``"ddim"``: a multistep solver cannot follow RePaint's jumps
        (:meth:`SamplerConfig.check_inpainting`).
    resample : int, optional
        RePaint's r: each stretch of reverse steps is done r times, with forward jumps
        in between, so the generated region harmonises with the known one (1 = off).
    jump_length : int, optional
        RePaint's j: levels per forward jump.
    **sampler_options
        Fields of :class:`SamplerConfig` as keywords (``sampler=``, ``steps=``, ...),
        each overriding the field of `config`.

    Returns
    -------
    SampleResult
        ``images`` equal the input exactly where mask = 0 (up to the mask's value).

    Notes
    -----
    Algorithm 1 of Lugmayr et al. At every reverse step from level t to s:

    .. math:: x_s = m \\odot x_s^{\\text{unknown}} + (1 - m) \\odot x_s^{\\text{known}},
              \\quad x_s^{\\text{known}} \\sim q(x_s | x_0) = N(\\sqrt{\\bar\\alpha_s} x_0,
              (1 - \\bar\\alpha_s) I)

    with :math:`x_s^{\\text{unknown}}` the sampler's reverse step from x_t. A forward jump
    from s up to t draws :math:`x_t \\sim N(\\sqrt{\\bar\\alpha_t / \\bar\\alpha_s}\\, x_s,
    (1 - \\bar\\alpha_t / \\bar\\alpha_s) I)`. At s = 0 the known part is the image itself.

    Examples
    --------
    >>> from diffprob.diffusion.models.unet import ContextUnet
    >>> image = torch.zeros(3, 16, 16)
    >>> mask = torch.zeros(16, 16); mask[4:12, 4:12] = 1
    >>> out = inpaint(ContextUnet("tiny"), NoiseSchedule(20), image, mask, n=2,
    ...               generator=0, progress=False).images
    >>> bool((out[:, :, 0] == 0).all())  # the unmasked border is kept exactly
    True
    """
    image = torch.as_tensor(image, dtype=torch.float32)
    if image.ndim == 3:
        image = image.unsqueeze(0).expand(1 if n is None else n, -1, -1, -1)
    elif image.ndim != 4:
        raise ParameterError(f"image must be (C, H, W) or (B, C, H, W), got {tuple(image.shape)}")
    elif n is not None and n != image.shape[0]:
        raise ParameterError(f"n={n} but {image.shape[0]} images were given")
    batch = image.shape[0]
    mask = torch.as_tensor(mask, dtype=torch.float32)
    while mask.ndim < 4:
        mask = mask.unsqueeze(0)
    try:
        mask = torch.broadcast_to(mask, image.shape)
    except RuntimeError:
        raise ParameterError(
            f"mask of shape {tuple(mask.shape)} does not match images {tuple(image.shape)}"
        ) from None
    if not torch.isfinite(image).all() or not torch.isfinite(mask).all():
        raise ParameterError("image and mask must be finite")
    if (mask < 0).any() or (mask > 1).any():
        raise ParameterError("mask values must be in [0, 1] (1 = regenerate)")

    config = SamplerConfig.from_options(
        DEFAULT_CONFIG if config is None else config, **sampler_options
    )
    config.check_inpainting()
    run = SamplingRun.start(
        model,
        schedule,
        config,
        batch,
        context=context,
        class_names=class_names,
        generator=generator,
        device=device,
        trajectory_every=trajectory_every,
        progress=progress,
    )
    sampler = run.sampler

    # Noise levels: level k <-> timestep levels[k]; level 0 is the clean image.
    levels = [0] + sorted(sampler.timesteps)
    order = repaint_schedule(len(levels) - 1, resample, jump_length)
    ab = schedule.alpha_bar
    x0_known = image.to(run.device)
    mask = mask.to(run.device)

    x = run.noise(image.shape)
    run.capture(x, schedule.num_timesteps)
    moves = list(zip(order[:-1], order[1:], strict=True))
    for i, (here, there) in enumerate(run.progress(moves, "inpainting"), start=1):
        t, s = levels[here], levels[there]
        if there < here:
            # Reverse step t -> s: the sampler's step for the unknown pixels, a draw of
            # q(x_s | x_0) for the known ones (x_0 itself at s = 0).
            unknown = sampler.step(run.model_output(x, t), t, x, run.generator)
            known = x0_known if s == 0 else schedule.q_sample(x0_known, s, run.noise(image.shape))
            x = mask * unknown + (1 - mask) * known
        else:
            # Forward jump q(x_s | x_t) for s > t: alpha_bar_s / alpha_bar_t of signal kept.
            ratio = scalar_at(ab, s) / scalar_at(ab, t)
            x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * run.noise(x.shape)
        run.capture(x, s, i, len(moves))
    # Clamp only the generated part so known pixels come back bit for bit.
    result = mask * x.clamp(-1, 1) + (1 - mask) * x0_known
    result = torch.where(mask == 0, x0_known, result)
    reverse = [levels[a] for a, b in moves if b < a]
    info = run.info(len(sampler.timesteps))
    info.update(resample=resample, jump_length=jump_length, model_calls=len(reverse))
    return run.result(result, reverse, info)
