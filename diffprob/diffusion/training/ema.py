"""Exponential moving average (EMA) of model weights.

Sampling from an average of the recent weights instead of the last ones removes
most of the step-to-step jitter of SGD; every DDPM since Ho et al. (2020) does it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from diffprob.errors import ParameterError

__all__ = ["EMA"]


class EMA:
    """A frozen copy of a model whose weights track the model's by EMA.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained (copied; the copy lives on the same device).
    decay : float, optional
        Target decay d in [0, 1): ema <- d * ema + (1 - d) * weights.
    warmup : bool, optional
        Use d_k = min(d, (1 + k) / (10 + k)) at step k, so that the average does not
        stay anchored to the random initial weights for ~1 / (1 - d) steps.

    Examples
    --------
    >>> model = nn.Linear(1, 1, bias=False)
    >>> _ = nn.init.zeros_(model.weight)
    >>> ema = EMA(model, decay=0.5, warmup=False)
    >>> _ = nn.init.ones_(model.weight)
    >>> ema.update(model, step=1)
    >>> float(ema.model.weight)
    0.5
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ParameterError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used for the update after optimizer step `step` (1-based)."""
        if self.warmup:
            return min(self.decay, (1 + step) / (10 + step))
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards `model`'s current weights."""
        weight = 1.0 - self.decay_at(step)
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, weight)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_buffer.copy_(buffer)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
