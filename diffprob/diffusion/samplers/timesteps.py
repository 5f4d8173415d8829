"""Which timesteps a few-step sampler visits: a descending sub-sequence of 1..T.

DDIM (Song et al. 2021, section 4.2) and DPM-Solver step over a sub-sequence
tau_1 < ... < tau_S = T of the T timesteps of the forward process; the step after tau_1
goes to t = 0, the clean image. :func:`ddim_timesteps` builds it, evenly spaced or
quadratic (denser at small t).
"""

from __future__ import annotations

from diffprob.diffusion.samplers.config import check_spacing
from diffprob.errors import ParameterError

__all__ = ["ddim_timesteps"]


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
    check_spacing(spacing)
    if spacing == "uniform":
        return [i * num_timesteps // steps for i in range(steps, 0, -1)]
    # max(., i) keeps the sequence strictly increasing where T (i/S)^2 rounds to repeats
    # (i < S^2 / T); beyond that the quadratic grows by more than 1 per step.
    return [max(round(num_timesteps * (i / steps) ** 2), i) for i in range(steps, 0, -1)]
