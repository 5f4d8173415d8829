"""Reverse process: DDPM and DDIM samplers, classifier-free guidance, inpainting.

Notation follows :mod:`diffprob.diffusion.schedule` (timesteps 0..T, index 0 = clean image,
``alpha_bar_0 = 1``) and the papers:

* Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models" (DDPM),
  algorithm 2 and eqs. 6-7, 11;
* Song, Meng & Ermon (2021), "Denoising Diffusion Implicit Models" (DDIM), eqs. 12 and 16;
* Ho & Salimans (2022), "Classifier-Free Diffusion Guidance", eq. 6;
* Lugmayr et al. (2022), "RePaint: Inpainting using Denoising Diffusion Probabilistic
  Models", algorithm 1 and the resampling schedule of section 4.2.

The two samplers are small objects in the style of diffusers' schedulers: each holds the
descending list of ``timesteps`` it visits and a ``step(model_output, t, x_t)`` method that
maps x_t to the state at the previous visited timestep. :func:`sample` and :func:`inpaint`
run the loop around them; the model is called through :func:`guided_eps`.

The model predicts the noise eps or the velocity v, as the schedule's ``prediction_type``
says (:meth:`NoiseSchedule.split_prediction` turns either into x0 and eps), with the
call convention of :class:`diffprob.diffusion.models.unet.ContextUnet`: ``model(x, t / T, context)`` with
``context`` of shape (B, n_cfeat) -- one-hot, mixture weights, or all zeros (the null
context).

Every random draw goes through one ``torch.Generator`` (or an int seed) and is made on
that generator's device (the CPU by default) and then moved, so a seed gives the same
samples on every device (up to floating-point differences of the model itself).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch

from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError

__all__ = [
    "DDIMSampler",
    "DDPMSampler",
    "DPMSolverSampler",
    "SampleResult",
    "ddim_timesteps",
    "guided_eps",
    "inpaint",
    "make_sampler",
    "parse_context",
    "per_class_context",
    "repaint_schedule",
    "sample",
]

SAMPLERS = ("ddpm", "ddim", "dpmpp-2m")
#: Timestep sequences of the few-step samplers (:func:`ddim_timesteps`).
SPACINGS = ("uniform", "quadratic")
#: DDIM step count used when ``steps`` is None.
DEFAULT_DDIM_STEPS = 25
# Guidance weight used when none is given (API, `diffprob sample`, `diffprob evaluate`).
# The shipped model is class-faithful without guidance (100 % accuracy at w = 0) and
# every w > 0 raised its FD and colour distances; its model card
# (data/checkpoints/sprites16.md) gives the measured sweep behind this value.
DEFAULT_GUIDANCE = 0.0


# -- random numbers ------------------------------------------------------------------------
def as_generator(generator=None) -> torch.Generator:
    """A ``torch.Generator`` from None (fresh entropy), an int seed, or a generator."""
    if isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator()
    if generator is None:
        g.seed()
    elif isinstance(generator, bool) or not isinstance(generator, int) or generator < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {generator!r}")
    else:
        g.manual_seed(generator)
    return g


def _randn(shape, generator: torch.Generator, device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws from `generator`, made on its device, returned on `device`."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


# -- time-step sequences -------------------------------------------------------------------
def ddim_timesteps(num_timesteps: int, steps: int, spacing: str = "uniform") -> list[int]:
    """A sub-sequence tau_1 < ... < tau_S = T of 1..T, in descending order.

    Parameters
    ----------
    num_timesteps : int
        T, the number of steps of the forward process.
    steps : int
        S, the number of reverse steps, ``1 <= S <= T``.
    spacing : {"uniform", "quadratic"}, optional
        ``"uniform"`` (default): ``tau_i = floor(i T / S)``. ``"quadratic"``:
        ``tau_i = max(round(T (i / S)^2), i)``, the quadratic sequence of Song et al.
        (2021, appendix D.2) ending at T: denser at small t, where the last details of
        the image are decided, sparser near T, where little changes.

    Returns
    -------
    list of int
        ``[tau_S, ..., tau_1]``; the step after tau_1 goes to t = 0 (the clean image).
        Both start at T, where a zero-terminal-SNR model was trained on pure noise
        (Lin et al. 2024, "trailing" spacing). ``S = T`` gives every timestep, T..1.

    Examples
    --------
    >>> ddim_timesteps(500, 5)
    [500, 400, 300, 200, 100]
    >>> ddim_timesteps(10, 3)
    [10, 6, 3]
    >>> ddim_timesteps(500, 5, spacing="quadratic")
    [500, 320, 180, 80, 20]
    """
    if not 1 <= steps <= num_timesteps or int(steps) != steps:
        raise ParameterError(f"steps must be an integer in [1, {num_timesteps}], got {steps}")
    if spacing == "uniform":
        return [i * num_timesteps // steps for i in range(steps, 0, -1)]
    if spacing == "quadratic":
        # max(., i) keeps the sequence strictly increasing where T (i/S)^2 rounds to repeats
        # (i < S^2 / T); beyond that the quadratic grows by more than 1 per step.
        return [max(round(num_timesteps * (i / steps) ** 2), i) for i in range(steps, 0, -1)]
    raise ParameterError(f"spacing must be one of {SPACINGS}, got {spacing!r}")


def _scalar(table: torch.Tensor, t: int) -> float:
    return float(table[t])


# -- samplers --------------------------------------------------------------------------------
class DDPMSampler:
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
        if variance not in ("beta", "posterior"):
            raise ParameterError(f"variance must be 'beta' or 'posterior', got {variance!r}")
        self.schedule = schedule
        self.variance = variance
        self.clip_x0 = bool(clip_x0)
        self.timesteps = list(range(schedule.num_timesteps, 0, -1))
        self.eta = None

    def prev_timestep(self, t: int) -> int:
        return t - 1

    def sigma(self, t: int) -> float:
        """Standard deviation sigma_t of the noise added when stepping from t to t - 1."""
        s = self.schedule
        table = s.betas if self.variance == "beta" else s.posterior_variance
        return math.sqrt(_scalar(table, t))

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to a draw of x_{t-1} given the network's output (noise or velocity)."""
        s = self.schedule
        if self.clip_x0 or s.config.prediction_type != "epsilon":
            # The predicted x0 (clipped to the data range if asked), then the posterior
            # mean of eq. 7: mu~_t(x_t, x0) = coef_x0 * x0 + coef_xt * x_t. Without
            # clipping this equals algorithm 2's mean, and it stays finite at
            # alpha_bar_T = 0, where algorithm 2 would divide by sqrt(alpha_T) = 0.
            x0, _ = s.split_prediction(model_output, x_t, t)
            if self.clip_x0:
                x0 = x0.clamp(-1, 1)
            mean = (
                _scalar(s.posterior_mean_coef_x0, t) * x0
                + _scalar(s.posterior_mean_coef_xt, t) * x_t
            )
        else:
            # Algorithm 2, line 4 (equivalently eq. 11).
            alpha_t = _scalar(s.alphas, t)
            beta_t = _scalar(s.betas, t)
            alpha_bar_t = _scalar(s.alpha_bar, t)
            eps = model_output
            mean = (x_t - beta_t / math.sqrt(1 - alpha_bar_t) * eps) / math.sqrt(alpha_t)
        if t == 1:  # algorithm 2: z = 0 at the last step, the output is the mean
            return mean
        z = _randn(x_t.shape, as_generator(generator), x_t.device, x_t.dtype)
        return mean + self.sigma(t) * z


class _FewStepSampler:
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


class DDIMSampler(_FewStepSampler):
    """The generalised (DDIM) sampler of Song et al. (2021), eq. 12, on a sub-sequence.

    Parameters
    ----------
    schedule : NoiseSchedule
        The forward process the model was trained with.
    steps : int, optional
        Number of reverse steps S, 1 <= S <= T (default 25, or T if T < 25); the visited
        timesteps are :func:`ddim_timesteps`.
    eta : float, optional
        Scale of the noise, in [0, 1]: 0 (default) makes sampling deterministic given the
        initial noise; 1 uses the DDPM posterior variance (with S = T it is exactly
        :class:`DDPMSampler` with ``variance="posterior"``).
    clip_x0 : bool, optional
        Clip the predicted x0 to [-1, 1] (default True, as diffusers' ``clip_sample``)
        and re-derive the noise from the clipped x0 so the two stay consistent.
    spacing : {"uniform", "quadratic"}, optional
        Which timesteps to visit (:func:`ddim_timesteps`).

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
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:  # also refuses NaN
            raise ParameterError(f"eta must be in [0, 1], got {eta}")
        super().__init__(schedule, steps, clip_x0, spacing)
        self.eta = eta

    def sigma(self, t: int) -> float:
        """Eq. 16 times eta: the noise scale of the step from t to its predecessor."""
        s = self.schedule
        ab_t = _scalar(s.alpha_bar, t)
        ab_prev = _scalar(s.alpha_bar, self.prev_timestep(t))
        return self.eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to x_s, s = ``prev_timestep(t)``, given the network's output."""
        s = self.schedule
        ab_t = _scalar(s.alpha_bar, t)
        ab_prev = _scalar(s.alpha_bar, self.prev_timestep(t))
        # Eq. 12, first term: the "predicted x0" (and the noise it implies).
        x0, eps = s.split_prediction(model_output, x_t, t)
        if self.clip_x0:
            x0 = x0.clamp(-1, 1)
            eps = (x_t - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
        sigma = self.sigma(t)
        # Eq. 12, second term: "direction pointing to x_t"; max() guards rounding below 0.
        direction = math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        x_prev = math.sqrt(ab_prev) * x0 + direction
        if sigma > 0:  # eq. 12, third term: random noise (none for eta = 0 or the last step)
            x_prev = x_prev + sigma * _randn(
                x_t.shape, as_generator(generator), x_t.device, x_t.dtype
            )
        return x_prev


class DPMSolverSampler(_FewStepSampler):
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
        timesteps as :class:`DDIMSampler` (:func:`ddim_timesteps`).
    clip_x0 : bool, optional
        Clip each predicted x0 to [-1, 1] before it enters the update (default True).
    spacing : {"uniform", "quadratic"}, optional
        Which timesteps to visit (:func:`ddim_timesteps`).

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
        ab = _scalar(self.schedule.alpha_bar, t)
        if ab <= 0.0:
            return -math.inf
        if ab >= 1.0:
            return math.inf
        return 0.5 * (math.log(ab) - math.log1p(-ab))

    def step(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Map x_t to x_s, s = ``prev_timestep(t)``; `generator` is unused (no noise)."""
        s = self.prev_timestep(t)
        x0, _ = self.schedule.split_prediction(model_output, x_t, t)
        if self.clip_x0:
            x0 = x0.clamp(-1, 1)
        lam_t, lam_s = self._log_snr(t), self._log_snr(s)
        h = lam_s - lam_t
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
        ab_t = _scalar(self.schedule.alpha_bar, t)
        ab_s = _scalar(self.schedule.alpha_bar, s)
        sigma_t, sigma_s = math.sqrt(1 - ab_t), math.sqrt(1 - ab_s)
        alpha_t, alpha_s = math.sqrt(ab_t), math.sqrt(ab_s)
        # alpha_s (1 - e^{-h}) written without h: e^{-h} = alpha_t sigma_s / (sigma_t alpha_s),
        # finite at alpha_t = 0 (zero terminal SNR) and at s = 0 (sigma_s = 0, x_s = D).
        return (sigma_s / sigma_t) * x_t + (alpha_s - alpha_t * sigma_s / sigma_t) * d


def make_sampler(
    schedule: NoiseSchedule,
    sampler: str = "ddim",
    *,
    steps: int | None = None,
    eta: float = 0.0,
    clip_x0: bool = True,
    variance: str = "beta",
    spacing: str = "uniform",
) -> DDPMSampler | DDIMSampler | DPMSolverSampler:
    """Build a :class:`DDPMSampler`, :class:`DDIMSampler` or :class:`DPMSolverSampler`.

    DDPM visits all T steps, so `steps` must be None or T for it; `eta` is a DDIM option
    (DDPM's noise is set by `variance`; DPM-Solver++(2M) has none).

    Examples
    --------
    >>> make_sampler(NoiseSchedule(100), "ddim", steps=10).timesteps[:3]
    [100, 90, 80]
    """
    if sampler == "ddpm":
        if spacing != "uniform":
            raise ParameterError("the DDPM sampler visits every timestep; spacing is for 'ddim'")
        if steps is not None and steps != schedule.num_timesteps:
            raise ParameterError(
                f"the DDPM sampler takes all {schedule.num_timesteps} steps; got steps={steps} "
                "(use the DDIM sampler for fewer steps)"
            )
        return DDPMSampler(schedule, variance=variance, clip_x0=clip_x0)
    if sampler == "ddim":
        return DDIMSampler(schedule, steps, eta=eta, clip_x0=clip_x0, spacing=spacing)
    if sampler == "dpmpp-2m":
        if eta != 0:
            raise ParameterError(
                f"eta is a DDIM option; DPM-Solver++(2M) is deterministic (got eta={eta})"
            )
        return DPMSolverSampler(schedule, steps, clip_x0=clip_x0, spacing=spacing)
    raise ParameterError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")


# -- context -------------------------------------------------------------------------------
_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?([^*+]+?)\s*$")


def parse_context(spec: str | None, class_names=None, n_cfeat: int | None = None) -> torch.Tensor:
    """Turn a context description into a weight vector of length n_cfeat.

    Parameters
    ----------
    spec : str or None
        ``None``, ``""`` or ``"none"``: the null context (all zeros, unconditional).
        A class name (``"hero"``, case-insensitive) or index (``"2"``): one-hot.
        A mixture ``"0.6*food+0.4*spell"``: those weights (as given, not normalised;
        a term without a weight counts 1; repeated classes add up).
    class_names : sequence of str, optional
        Names of the context classes, in index order.
    n_cfeat : int, optional
        Length of the context vector (defaults to ``len(class_names)``).

    Returns
    -------
    torch.Tensor
        float32, shape (n_cfeat,).

    Raises
    ------
    ParameterError
        Unknown name (the message lists the class names), index out of range,
        negative or non-numeric weight, or an empty term.

    Examples
    --------
    >>> names = ("hero", "creature", "food", "spell", "item")
    >>> parse_context("food", names).tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0]
    >>> [round(v, 3) for v in parse_context("0.6*food+0.4*spell", names).tolist()]
    [0.0, 0.0, 0.6, 0.4, 0.0]
    >>> parse_context(None, names).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    names = tuple(str(n) for n in class_names) if class_names is not None else ()
    if n_cfeat is None:
        if not names:
            raise ParameterError("parse_context needs class_names or n_cfeat")
        n_cfeat = len(names)
    if names and len(names) > n_cfeat:
        raise ParameterError(f"{len(names)} class names but the context has {n_cfeat} entries")
    weights = torch.zeros(n_cfeat, dtype=torch.float32)
    if spec is None or spec.strip().lower() in ("", "none", "null"):
        return weights
    lower = {n.lower(): i for i, n in enumerate(names)}
    listing = ", ".join(names) if names else f"indices 0..{n_cfeat - 1}"
    for term in spec.split("+"):
        match = _TERM.match(term)
        if match is None:
            if term.strip().startswith("-") or re.search(r"-\s*[0-9.]+\s*\*", term):
                raise ParameterError(f"context weights must be >= 0, got {term.strip()!r}")
            raise ParameterError(
                f"cannot parse context term {term.strip()!r}; use e.g. 'hero' or "
                f"'0.6*food+0.4*spell' (classes: {listing})"
            )
        weight = 1.0 if match.group(1) is None else float(match.group(1))
        label = match.group(2).strip()
        if label.isdigit():
            index = int(label)
            if index >= n_cfeat:
                raise ParameterError(f"context index {index} out of range; classes: {listing}")
        elif label.lower() in lower:
            index = lower[label.lower()]
        else:
            raise ParameterError(f"unknown context class {label!r}; classes: {listing}")
        weights[index] += weight
    return weights


def per_class_context(n_cfeat: int, per_class: int = 1) -> torch.Tensor:
    """One-hot contexts, `per_class` rows of class 0, then of class 1, ...

    With ``ncols=per_class`` a sample grid then has one row per class.

    Examples
    --------
    >>> per_class_context(3, 2).tolist()
    [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    """
    if n_cfeat < 1 or per_class < 1:
        raise ParameterError(f"need n_cfeat >= 1 and per_class >= 1, got {n_cfeat}, {per_class}")
    return torch.eye(n_cfeat).repeat_interleave(per_class, dim=0)


def _model_n_cfeat(model) -> int | None:
    return getattr(getattr(model, "config", None), "n_cfeat", None)


def resolve_context(context, n: int, *, n_cfeat=None, class_names=None) -> torch.Tensor | None:
    """Context for a batch of n: None, or a float32 (n, n_cfeat) tensor.

    `context` may be None, a string (see :func:`parse_context`), an int class index, a
    vector of n_cfeat weights (used for every sample), or an (n, n_cfeat) array.
    """
    if context is None:
        return None
    if isinstance(context, str):
        return parse_context(context, class_names, n_cfeat).expand(n, -1).clone()
    if isinstance(context, int) and not isinstance(context, bool):
        return parse_context(str(context), class_names, n_cfeat).expand(n, -1).clone()
    context = torch.as_tensor(context, dtype=torch.float32)
    if context.ndim == 1:
        context = context.expand(n, -1).clone()
    if context.ndim != 2 or context.shape[0] != n:
        raise ParameterError(
            f"context must have shape (n_cfeat,) or ({n}, n_cfeat), got {tuple(context.shape)}"
        )
    if n_cfeat is not None and context.shape[1] != n_cfeat:
        raise ParameterError(f"context has {context.shape[1]} entries, the model {n_cfeat}")
    if not torch.isfinite(context).all() or (context < 0).any():
        raise ParameterError("context weights must be finite and >= 0")
    return context


# -- guidance ------------------------------------------------------------------------------
def guided_eps(
    model, x: torch.Tensor, t_norm: torch.Tensor, context: torch.Tensor | None, guidance: float
) -> torch.Tensor:
    """Classifier-free guided noise prediction (Ho & Salimans 2022, eq. 6).

    Parameters
    ----------
    model : callable
        ``model(x, t_norm, context) -> eps`` (or -> v for a v-prediction model: the
        guided combination is linear, so it means the same for either output).
    x : torch.Tensor
        (B, C, H, W) noisy images.
    t_norm : torch.Tensor
        (B,) timesteps divided by T.
    context : torch.Tensor or None
        (B, n_cfeat) context weights; None is the null context.
    guidance : float
        w >= 0.

    Returns
    -------
    torch.Tensor
        :math:`\\tilde\\epsilon = (1 + w)\\,\\epsilon(x, c) - w\\,\\epsilon(x, \\varnothing)`.

    Notes
    -----
    w = 0 is the plain conditional prediction and costs one forward pass. For w > 0 the
    conditional and unconditional halves go through the model as one batch of 2B. With
    a null context (None) both terms are equal, so one pass is made whatever w.

    Examples
    --------
    >>> model = lambda x, t, c: x * (1 + c.sum(1)).view(-1, 1, 1, 1)
    >>> x = torch.ones(1, 1, 2, 2)
    >>> # eps(x, c) = 2, eps(x, null) = 1: (1 + 2) * 2 - 2 * 1 = 4
    >>> float(guided_eps(model, x, torch.zeros(1), torch.ones(1, 1), 2.0)[0, 0, 0, 0])
    4.0
    """
    w = float(guidance)
    if not w >= 0 or not math.isfinite(w):
        raise ParameterError(f"guidance must be a finite number >= 0, got {guidance}")
    if w == 0 or context is None:
        return model(x, t_norm, context)
    both = model(
        torch.cat([x, x]),
        torch.cat([t_norm, t_norm]),
        torch.cat([context, torch.zeros_like(context)]),
    )
    eps_cond, eps_uncond = both.chunk(2)
    return (1 + w) * eps_cond - w * eps_uncond


# -- sampling loop -------------------------------------------------------------------------
@dataclass
class SampleResult:
    """Output of :func:`sample` and :func:`inpaint`.

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


def _model_device(model, device):
    if device is not None:
        return torch.device(device)
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def _image_shape(model, image_shape):
    if image_shape is not None:
        return tuple(image_shape)
    config = getattr(model, "config", None)
    if config is None:
        raise ParameterError("give image_shape=(C, H, W): the model has no config")
    return (config.in_channels, config.image_size, config.image_size)


def _progress(iterable, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, disable=not enabled, leave=False, unit="step")


@torch.no_grad()
def sample(
    model,
    schedule: NoiseSchedule,
    n: int,
    *,
    sampler: str = "ddim",
    steps: int | None = None,
    eta: float = 0.0,
    context=None,
    guidance: float = DEFAULT_GUIDANCE,
    generator=None,
    device=None,
    trajectory_every: int = 0,
    progress: bool = True,
    class_names=None,
    clip_x0: bool = True,
    variance: str = "beta",
    spacing: str = "uniform",
    x_T: torch.Tensor | None = None,
    image_shape=None,
) -> SampleResult:
    """Draw n images from an epsilon-prediction diffusion model.

    Parameters
    ----------
    model : torch.nn.Module or callable
        ``model(x, t / T, context) -> eps`` (e.g. :class:`diffprob.diffusion.models.unet.ContextUnet`);
        put in eval mode if it is a module.
    schedule : NoiseSchedule
        The schedule the model was trained with.
    n : int
        Number of images.
    sampler : {"ddim", "ddpm", "dpmpp-2m"}, optional
        DDPM (algorithm 2, all T steps), DDIM (eq. 12, `steps` steps) or DPM-Solver++(2M)
        (:class:`DPMSolverSampler`, `steps` steps).
    steps : int, optional
        DDIM and DPM-Solver: number of steps in [1, T] (default 25). DDPM: None or T.
    eta : float, optional
        DDIM noise scale in [0, 1] (0: deterministic given `x_T`).
    context : None, str, int, array_like, optional
        None: unconditional (null context). A class name, index or mixture string
        (:func:`parse_context`, needs `class_names` for names), one weight vector for all
        samples, or an (n, n_cfeat) array (see :func:`per_class_context`).
    guidance : float, optional
        Classifier-free guidance weight w >= 0 (:func:`guided_eps`); 0 = plain conditional.
        Default :data:`DEFAULT_GUIDANCE`.
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
    clip_x0 : bool, optional
        Clip predicted x0 to [-1, 1] inside each step (default True; see the samplers).
    variance : {"beta", "posterior"}, optional
        DDPM's sigma_t^2.
    spacing : {"uniform", "quadratic"}, optional
        The timesteps DDIM and DPM-Solver visit (:func:`ddim_timesteps`).
    x_T : torch.Tensor, optional
        Initial noise (n, C, H, W) instead of a draw from `generator`.
    image_shape : tuple, optional
        (C, H, W), if the model has no ``config``.

    Returns
    -------
    SampleResult

    Examples
    --------
    >>> from diffprob.diffusion.models.unet import ContextUnet
    >>> model = ContextUnet("tiny").eval()
    >>> result = sample(model, NoiseSchedule(50), 2, steps=5, context="1", generator=0,
    ...                 progress=False)
    >>> tuple(result.images.shape), result.timesteps
    ((2, 3, 16, 16), [50, 40, 30, 20, 10])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    step_maker = make_sampler(
        schedule,
        sampler,
        steps=steps,
        eta=eta,
        clip_x0=clip_x0,
        variance=variance,
        spacing=spacing,
    )
    w = float(guidance)
    if not (w >= 0 and math.isfinite(w)):
        raise ParameterError(f"guidance must be a finite number >= 0, got {guidance}")
    if trajectory_every < 0:
        raise ParameterError(f"trajectory_every must be >= 0, got {trajectory_every}")
    device = _model_device(model, device)
    shape = (n, *_image_shape(model, image_shape))
    cond = resolve_context(context, n, n_cfeat=_model_n_cfeat(model), class_names=class_names)
    generator = as_generator(generator)
    if hasattr(model, "eval"):
        model.eval()

    if x_T is None:
        x = _randn(shape, generator, device)
    else:
        if tuple(x_T.shape) != shape:
            raise ParameterError(f"x_T must have shape {shape}, got {tuple(x_T.shape)}")
        x = x_T.to(device, torch.float32)
    cond_dev = None if cond is None else cond.to(device)

    T = schedule.num_timesteps
    trajectory, trajectory_t = [], []
    if trajectory_every:
        trajectory.append(x.cpu())
        trajectory_t.append(T)
    timesteps = step_maker.timesteps
    for i, t in enumerate(_progress(timesteps, progress, f"{sampler} sampling"), start=1):
        t_norm = torch.full((n,), t / T, device=device)
        eps = guided_eps(model, x, t_norm, cond_dev, w)
        x = step_maker.step(eps, t, x, generator)
        if trajectory_every and (i % trajectory_every == 0 or i == len(timesteps)):
            trajectory.append(x.cpu())
            trajectory_t.append(step_maker.prev_timestep(t))
    info = {
        "sampler": step_maker.name,
        "steps": len(timesteps),
        "eta": step_maker.eta,
        "guidance": w,
        "clip_x0": step_maker.clip_x0,
        "spacing": spacing,
        "num_timesteps": T,
    }
    if step_maker.name == "ddpm":
        info["variance"] = step_maker.variance
    return SampleResult(
        images=x.clamp(-1, 1).cpu(),
        timesteps=list(timesteps),
        trajectory=trajectory,
        trajectory_timesteps=trajectory_t,
        context=cond,
        info=info,
    )


# -- inpainting ----------------------------------------------------------------------------
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
    sampler: str = "ddpm",
    steps: int | None = None,
    eta: float = 0.0,
    resample: int = 1,
    jump_length: int = 1,
    context=None,
    guidance: float = DEFAULT_GUIDANCE,
    generator=None,
    device=None,
    trajectory_every: int = 0,
    progress: bool = True,
    class_names=None,
    clip_x0: bool = True,
    variance: str = "beta",
    spacing: str = "uniform",
) -> SampleResult:
    """Regenerate the masked region of image(s) consistently with the rest (RePaint).

    Parameters
    ----------
    model, schedule
        As in :func:`sample`.
    image : torch.Tensor
        (C, H, W) or (B, C, H, W) float in [-1, 1]: the known image(s).
    mask : torch.Tensor
        (H, W), (1, H, W), (C, H, W) or (B, ., H, W); 1 = regenerate, 0 = keep.
        Broadcast against `image`; values are used as given (binary recommended).
    n : int, optional
        Number of inpaintings when `image` is one image (default 1); it is repeated.
    sampler : {"ddpm", "ddim"}, optional
        Reverse step used (RePaint uses DDPM, the default). Not ``"dpmpp-2m"``: a
        multistep solver cannot follow RePaint's jumps.
    steps, eta, context, guidance, generator, device, trajectory_every, progress,
    class_names, clip_x0, variance, spacing
        As in :func:`sample`.
    resample : int, optional
        RePaint's r: each stretch of reverse steps is done r times, with forward jumps
        in between, so the generated region harmonises with the known one (1 = off).
    jump_length : int, optional
        RePaint's j: levels per forward jump.

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

    if sampler == "dpmpp-2m":
        # A multistep solver extrapolates from its previous steps, which RePaint's
        # re-noising jumps and pasted known pixels invalidate.
        raise ParameterError("inpainting needs a one-step sampler: 'ddpm' or 'ddim'")
    step_maker = make_sampler(
        schedule,
        sampler,
        steps=steps,
        eta=eta,
        clip_x0=clip_x0,
        variance=variance,
        spacing=spacing,
    )
    w = float(guidance)
    if not (w >= 0 and math.isfinite(w)):
        raise ParameterError(f"guidance must be a finite number >= 0, got {guidance}")
    device = _model_device(model, device)
    cond = resolve_context(context, batch, n_cfeat=_model_n_cfeat(model), class_names=class_names)
    generator = as_generator(generator)
    if hasattr(model, "eval"):
        model.eval()

    # Noise levels: level k <-> timestep levels[k]; level 0 is the clean image.
    levels = [0] + sorted(step_maker.timesteps)
    order = repaint_schedule(len(levels) - 1, resample, jump_length)
    T = schedule.num_timesteps
    ab = schedule.alpha_bar
    x0_known = image.to(device)
    mask = mask.to(device)
    cond_dev = None if cond is None else cond.to(device)

    x = _randn(image.shape, generator, device)
    trajectory, trajectory_t = [], []
    if trajectory_every:
        trajectory.append(x.cpu())
        trajectory_t.append(T)
    moves = list(zip(order[:-1], order[1:], strict=True))
    for i, (here, there) in enumerate(_progress(moves, progress, "inpainting"), start=1):
        t, s = levels[here], levels[there]
        if there < here:
            t_norm = torch.full((batch,), t / T, device=device)
            eps = guided_eps(model, x, t_norm, cond_dev, w)
            unknown = step_maker.step(eps, t, x, generator)
            if s == 0:
                known = x0_known
            else:
                known = schedule.q_sample(x0_known, s, _randn(image.shape, generator, device))
            x = mask * unknown + (1 - mask) * known
        else:
            # Forward jump q(x_s | x_t) for s > t: alpha_bar_s / alpha_bar_t of signal kept.
            ratio = _scalar(ab, s) / _scalar(ab, t)
            x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * _randn(x.shape, generator, device)
        if trajectory_every and (i % trajectory_every == 0 or i == len(moves)):
            trajectory.append(x.cpu())
            trajectory_t.append(s)
    # Clamp only the generated part so known pixels come back bit for bit.
    result = mask * x.clamp(-1, 1) + (1 - mask) * x0_known
    result = torch.where(mask == 0, x0_known, result)
    info = {
        "sampler": step_maker.name,
        "steps": len(step_maker.timesteps),
        "eta": step_maker.eta,
        "guidance": w,
        "clip_x0": step_maker.clip_x0,
        "spacing": spacing,
        "num_timesteps": T,
        "resample": resample,
        "jump_length": jump_length,
        "model_calls": sum(1 for a, b in moves if b < a),
    }
    return SampleResult(
        images=result.cpu(),
        timesteps=[levels[a] for a, b in moves if b < a],
        trajectory=trajectory,
        trajectory_timesteps=trajectory_t,
        context=cond,
        info=info,
    )
