"""The forward (noising) process of a DDPM and its Gaussian posterior.

Notation follows Ho et al. (2020), "Denoising Diffusion Probabilistic Models":

* ``beta_t``      variance added at step t, for t = 1..T
* ``alpha_t``     = 1 - beta_t
* ``alpha_bar_t`` = prod_{s<=t} alpha_s

Timesteps run from 0 to T inclusive and every tensor here has T + 1 entries:
index 0 is the clean image (``beta_0 = 0``, ``alpha_bar_0 = 1``), index T the
(almost) pure noise. This is the indexing of the paper and of the DeepLearning.AI
sprite course, so ``t = 0, 50, ..., 500`` means what it says.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from diffprob.errors import ParameterError

__all__ = ["NoiseSchedule", "ScheduleConfig"]

SCHEDULE_KINDS = ("linear", "cosine")
PREDICTION_TYPES = ("epsilon", "v_prediction")


@dataclass(frozen=True)
class ScheduleConfig:
    """Everything needed to rebuild a :class:`NoiseSchedule` (saved in checkpoints)."""

    num_timesteps: int = 500
    kind: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    cosine_s: float = 0.008
    zero_terminal_snr: bool = False
    prediction_type: str = "epsilon"

    def to_dict(self) -> dict:
        return asdict(self)


def _linear_betas(config: ScheduleConfig) -> torch.Tensor:
    betas = torch.linspace(
        config.beta_start, config.beta_end, config.num_timesteps, dtype=torch.float64
    )
    return torch.cat([torch.zeros(1, dtype=torch.float64), betas])


def _cosine_betas(config: ScheduleConfig) -> torch.Tensor:
    # Nichol & Dhariwal (2021), eq. 17: alpha_bar(t) = f(t) / f(0),
    # f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2). Betas are clipped at 0.999
    # so that the last step does not divide by an alpha_bar of zero.
    steps = torch.arange(config.num_timesteps + 1, dtype=torch.float64) / config.num_timesteps
    f = torch.cos((steps + config.cosine_s) / (1 + config.cosine_s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    return torch.cat([torch.zeros(1, dtype=torch.float64), betas])


def _rescale_to_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    # Lin et al. (2024), algorithm 1: shift sqrt(alpha_bar_t), t = 1..T, so that its last
    # value is 0 and scale it so that its first value is unchanged. x_T then holds no
    # signal at all, so sampling from N(0, I) starts exactly where training ended.
    sqrt_ab = torch.cumprod(1 - betas[1:], dim=0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alpha_bar = sqrt_ab**2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return torch.cat([torch.zeros(1, dtype=torch.float64), 1 - alphas])


class NoiseSchedule:
    """Variance schedule of the forward process q(x_t | x_0) and its posterior.

    Parameters
    ----------
    num_timesteps : int, optional
        Number of noising steps T (>= 1).
    kind : {"linear", "cosine"}, optional
        ``"linear"``: betas evenly spaced from `beta_start` to `beta_end` (Ho et al.;
        the sprite course's 1e-4 -> 0.02 over T = 500). ``"cosine"``: the schedule of
        Nichol & Dhariwal, which destroys information more evenly over t.
    beta_start, beta_end : float, optional
        End points of the linear schedule, ``0 < beta_start <= beta_end < 1``.
    cosine_s : float, optional
        Offset of the cosine schedule that keeps beta_1 from being tiny.
    zero_terminal_snr : bool, optional
        Rescale the schedule so that alpha_bar_T = 0 (Lin et al. 2024, algorithm 1):
        the last step then destroys the image completely, as sampling from N(0, I)
        assumes. Needs ``prediction_type="v_prediction"``, because noise prediction
        cannot recover x0 from pure noise.
    prediction_type : {"epsilon", "v_prediction"}, optional
        What the network trained with this schedule predicts: the noise eps (Ho et al.)
        or the velocity v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0
        (Salimans & Ho 2022). Used by :meth:`training_target` and
        :meth:`split_prediction`.

    Attributes
    ----------
    betas, alphas, alpha_bar : torch.Tensor
        Float32 tensors of length T + 1; index 0 is the clean image.
    posterior_variance : torch.Tensor
        beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t (eq. 7), 0 at t = 0.

    Notes
    -----
    All tables are computed in float64 and stored in float32. The forward marginal is

    .. math:: q(x_t | x_0) = N(\\sqrt{\\bar\\alpha_t} x_0, (1 - \\bar\\alpha_t) I)

    Examples
    --------
    >>> schedule = NoiseSchedule(500)
    >>> float(schedule.alpha_bar[0]), round(float(schedule.alpha_bar[500]), 5)
    (1.0, 0.00635)
    >>> zero = NoiseSchedule(500, zero_terminal_snr=True, prediction_type="v_prediction")
    >>> float(zero.alpha_bar[500]), float(zero.alpha_bar[1]) == float(schedule.alpha_bar[1])
    (0.0, True)
    >>> x0 = torch.zeros(2, 3, 16, 16)
    >>> xt = schedule.q_sample(x0, torch.tensor([0, 500]), torch.ones_like(x0))
    >>> round(float(xt[1, 0, 0, 0]), 4)  # sqrt(1 - alpha_bar_500)
    0.9968
    """

    def __init__(
        self,
        num_timesteps: int = 500,
        kind: str = "linear",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        cosine_s: float = 0.008,
        zero_terminal_snr: bool = False,
        prediction_type: str = "epsilon",
    ):
        config = ScheduleConfig(
            int(num_timesteps),
            kind,
            float(beta_start),
            float(beta_end),
            float(cosine_s),
            bool(zero_terminal_snr),
            prediction_type,
        )
        if config.num_timesteps < 1 or config.num_timesteps != num_timesteps:
            raise ParameterError(f"num_timesteps must be an integer >= 1, got {num_timesteps}")
        if kind not in SCHEDULE_KINDS:
            raise ParameterError(f"unknown schedule kind {kind!r}; choose one of {SCHEDULE_KINDS}")
        if kind == "linear" and not (0 < config.beta_start <= config.beta_end < 1):
            raise ParameterError(
                f"need 0 < beta_start <= beta_end < 1, got {config.beta_start}, {config.beta_end}"
            )
        if kind == "cosine" and not config.cosine_s >= 0:
            raise ParameterError(f"cosine_s must be >= 0, got {config.cosine_s}")
        if prediction_type not in PREDICTION_TYPES:
            raise ParameterError(
                f"unknown prediction_type {prediction_type!r}; choose one of {PREDICTION_TYPES}"
            )
        if config.zero_terminal_snr and prediction_type == "epsilon":
            raise ParameterError(
                "zero_terminal_snr needs prediction_type='v_prediction': at alpha_bar_T = 0 "
                "the noise is x_T itself and predicting it says nothing about x0"
            )
        if config.zero_terminal_snr and config.num_timesteps < 2:
            raise ParameterError("zero_terminal_snr needs num_timesteps >= 2")
        self.config = config

        betas = _linear_betas(config) if kind == "linear" else _cosine_betas(config)
        if config.zero_terminal_snr:
            betas = _rescale_to_zero_terminal_snr(betas)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        # Eq. 7: the posterior q(x_{t-1} | x_t, x_0) is Gaussian with these moments.
        one_minus = (1 - alpha_bar).clamp(min=1e-20)  # t = 0 has no posterior; avoid 0/0
        posterior_variance = betas * (1 - alpha_bar_prev) / one_minus
        coef_x0 = betas * alpha_bar_prev.sqrt() / one_minus
        coef_xt = alphas.sqrt() * (1 - alpha_bar_prev) / one_minus

        f32 = torch.float32
        self.betas = betas.to(f32)
        self.alphas = alphas.to(f32)
        self.alpha_bar = alpha_bar.to(f32)
        self.alpha_bar_prev = alpha_bar_prev.to(f32)
        self.sqrt_alpha_bar = alpha_bar.sqrt().to(f32)
        self.sqrt_one_minus_alpha_bar = (1 - alpha_bar).sqrt().to(f32)
        self.posterior_variance = posterior_variance.to(f32)
        self.posterior_mean_coef_x0 = coef_x0.to(f32)
        self.posterior_mean_coef_xt = coef_xt.to(f32)

    # -- construction -----------------------------------------------------------------
    @property
    def num_timesteps(self) -> int:
        return self.config.num_timesteps

    @classmethod
    def from_config(cls, config: dict | ScheduleConfig) -> NoiseSchedule:
        """Rebuild a schedule from :attr:`config` (a dict as saved in checkpoints)."""
        if isinstance(config, ScheduleConfig):
            config = config.to_dict()
        try:
            return cls(**config)
        except TypeError as exc:
            raise ParameterError(f"not a schedule configuration: {exc}") from None

    def __repr__(self) -> str:
        c = self.config
        extra = (
            f"beta {c.beta_start:g}->{c.beta_end:g}" if c.kind == "linear" else f"s={c.cosine_s:g}"
        )
        if c.zero_terminal_snr:
            extra += ", zero terminal SNR"
        if c.prediction_type != "epsilon":
            extra += f", {c.prediction_type}"
        return f"NoiseSchedule(T={c.num_timesteps}, {c.kind}, {extra})"

    def to(self, device) -> NoiseSchedule:
        """Move every table to `device` (in place) and return self."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self

    # -- helpers ----------------------------------------------------------------------
    def _at(self, table: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
        """table[t] shaped to broadcast against `like` (batch first)."""
        t = torch.as_tensor(t, device=table.device, dtype=torch.long)
        if t.numel() and (int(t.min()) < 0 or int(t.max()) > self.num_timesteps):
            raise ParameterError(
                f"timesteps must be in [0, {self.num_timesteps}], got {t.tolist()}"
            )
        values = table[t].to(like.device, like.dtype)
        return values.reshape(values.shape + (1,) * (like.ndim - values.ndim))

    def check_timestep(self, t: int) -> int:
        """Return `t` as an int, or raise ParameterError if it is outside [0, T]."""
        if not (0 <= int(t) <= self.num_timesteps) or int(t) != t:
            raise ParameterError(
                f"timestep must be an integer in [0, {self.num_timesteps}], got {t}"
            )
        return int(t)

    # -- forward process -----------------------------------------------------------
    def q_mean_variance(self, x0: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean sqrt(alpha_bar_t) x0 and variance 1 - alpha_bar_t of q(x_t | x_0) (eq. 4)."""
        mean = self._at(self.sqrt_alpha_bar, t, x0) * x0
        variance = 1 - self._at(self.alpha_bar, t, x0)
        return mean, variance.expand_as(mean)

    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """Draw x_t ~ q(x_t | x_0) = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise (eq. 4).

        `t` is an int or a (B,) tensor of timesteps in [0, T]; `noise` is standard normal
        of x0's shape (passed in, so the caller controls the random generator and can use
        it as the regression target).
        """
        if noise.shape != x0.shape:
            raise ParameterError(f"noise shape {tuple(noise.shape)} != x0 shape {tuple(x0.shape)}")
        return (
            self._at(self.sqrt_alpha_bar, t, x0) * x0
            + self._at(self.sqrt_one_minus_alpha_bar, t, x0) * noise
        )

    def predict_x0(self, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
        """Invert eq. 4 for x0 given the noise: (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
        return (x_t - self._at(self.sqrt_one_minus_alpha_bar, t, x_t) * eps) / self._at(
            self.sqrt_alpha_bar, t, x_t
        )

    def velocity(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) x0 (Salimans & Ho 2022, sec. 4).

        The rate of change of x_t along the circle sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar)
        eps; unlike eps it still points at x0 when alpha_bar_t is 0.
        """
        return (
            self._at(self.sqrt_alpha_bar, t, x0) * noise
            - self._at(self.sqrt_one_minus_alpha_bar, t, x0) * x0
        )

    def training_target(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """What the network regresses on for x_t = :meth:`q_sample` (x0, t, noise).

        The noise itself for ``prediction_type="epsilon"``, :meth:`velocity` for
        ``"v_prediction"``.
        """
        if self.config.prediction_type == "epsilon":
            return noise
        return self.velocity(x0, t, noise)

    def split_prediction(
        self, model_output: torch.Tensor, x_t: torch.Tensor, t
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (x0, eps) pair that a network output at (x_t, t) stands for.

        For eps-prediction this inverts eq. 4; for v-prediction it uses
        x0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v and
        eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v, which hold at any
        alpha_bar_t including 0.

        Examples
        --------
        >>> s = NoiseSchedule(10, zero_terminal_snr=True, prediction_type="v_prediction")
        >>> x0, eps = torch.full((1, 1), 0.5), torch.full((1, 1), -1.0)
        >>> x_t = s.q_sample(x0, 10, eps)
        >>> [round(float(v), 4) for v in s.split_prediction(s.velocity(x0, 10, eps), x_t, 10)]
        [0.5, -1.0]
        """
        if self.config.prediction_type == "epsilon":
            return self.predict_x0(x_t, t, model_output), model_output
        a = self._at(self.sqrt_alpha_bar, t, x_t)
        b = self._at(self.sqrt_one_minus_alpha_bar, t, x_t)
        return a * x_t - b * model_output, b * x_t + a * model_output

    def posterior_mean_variance(
        self, x0: torch.Tensor, x_t: torch.Tensor, t
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0) (eqs. 6-7), for t >= 1."""
        mean = (
            self._at(self.posterior_mean_coef_x0, t, x_t) * x0
            + self._at(self.posterior_mean_coef_xt, t, x_t) * x_t
        )
        variance = self._at(self.posterior_variance, t, x_t)
        return mean, variance.expand_as(mean)

    def snr(self, t=None) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) (inf at t = 0)."""
        snr = self.alpha_bar / (1 - self.alpha_bar)
        return snr if t is None else snr[torch.as_tensor(t, dtype=torch.long)]
