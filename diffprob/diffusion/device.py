"""Choosing the torch device that training, sampling and evaluation run on."""

from __future__ import annotations

import torch

from diffprob.errors import ParameterError

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; others are checked.

    Raises
    ------
    ParameterError
        The device is unknown, or asked for but not available.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(name, torch.device):
        return name
    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError("device 'cuda' requested but no CUDA GPU is available")
        return torch.device(name)
    if name == "mps":
        if not mps_ok:
            raise ParameterError("device 'mps' requested but Apple MPS is not available")
        return torch.device("mps")
    raise ParameterError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
