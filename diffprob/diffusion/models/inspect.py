"""What the sampling and evaluation code reads off a model: device, context size, image shape.

A model is a ``torch.nn.Module`` with a ``config`` (:class:`~diffprob.diffusion.models.unet.UNetConfig`)
or any callable ``model(x, t / T, context)``; these functions give a plain callable
sensible answers (the CPU, no context size) or ask for what cannot be guessed.
"""

from __future__ import annotations

import torch

from diffprob.errors import ParameterError

__all__ = ["model_device", "model_image_shape", "model_n_cfeat"]


def model_device(model, device=None) -> torch.device:
    """`device` if given, else the device of the model's first parameter, else the CPU."""
    if device is not None:
        return torch.device(device)
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def model_n_cfeat(model) -> int | None:
    """The length of the model's context vector, or None if it has no ``config``."""
    return getattr(getattr(model, "config", None), "n_cfeat", None)


def model_image_shape(model, image_shape=None) -> tuple:
    """(C, H, W) of the model's images: `image_shape` if given, else from its ``config``."""
    if image_shape is not None:
        return tuple(image_shape)
    config = getattr(model, "config", None)
    if config is None:
        raise ParameterError("give image_shape=(C, H, W): the model has no config")
    return (config.in_channels, config.image_size, config.image_size)
