"""Random numbers of the diffusion half: one ``torch.Generator`` per call, drawn on its device.

Every random draw of sampling, inpainting and the forward process goes through one
generator, built by :func:`as_generator` from None (fresh entropy), an int seed, or a
generator. :func:`randn` draws on the generator's device (the CPU by default) and then
moves the numbers, so a seed gives the same noise on every device.
"""

from __future__ import annotations

import torch

from diffprob.errors import ParameterError

__all__ = ["as_generator", "randn"]


def as_generator(generator=None) -> torch.Generator:
    """A ``torch.Generator`` from None (fresh entropy), an int seed, or a generator.

    Examples
    --------
    >>> a, b = as_generator(0), as_generator(0)
    >>> torch.equal(torch.randn(3, generator=a), torch.randn(3, generator=b))
    True
    """
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


def randn(shape, generator: torch.Generator, device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws from `generator`, made on its device, returned on `device`."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)
