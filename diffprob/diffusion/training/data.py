"""What a training step draws: the data as tensors, the epoch's order, the step's noise.

Nothing random is carried from step to step. The data order of epoch e is a
permutation drawn from a generator seeded by (seed, e), and the timesteps, noise and
context-dropout mask of step k from a generator seeded by (seed, k); a run resumed
after step k therefore draws exactly what the uninterrupted run draws.
"""

from __future__ import annotations

import numpy as np
import torch

from diffprob.diffusion.model_range import to_model_range
from diffprob.diffusion.models.unet import UNetConfig
from diffprob.errors import DataError
from diffprob.util.validation import check_image_batch

__all__ = ["training_tensors", "epoch_permutation", "step_draws"]

# Independent random streams under one seed.
_STREAM_PERMUTATION = 1
_STREAM_STEP = 2


def training_tensors(data, config: UNetConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float (N,C,H,W) in [-1, 1], contexts float (N, n_cfeat)) from a data set.

    Labels are class indices (one-hot encoded here) or rows of context weights.
    """
    images = check_image_batch(
        getattr(data, "images", None),
        "training images",
        channels=config.in_channels,
        size=config.image_size,
    )
    labels = np.asarray(getattr(data, "labels", None))
    if labels.ndim == 1:
        if len(labels) and (labels.min() < 0 or labels.max() >= config.n_cfeat):
            raise DataError(
                f"labels must be in [0, {config.n_cfeat}) for a model with "
                f"n_cfeat={config.n_cfeat}, got range [{labels.min()}, {labels.max()}]"
            )
        contexts = torch.nn.functional.one_hot(
            torch.as_tensor(labels, dtype=torch.long), config.n_cfeat
        ).float()
    elif labels.ndim == 2 and labels.shape[1] == config.n_cfeat:
        contexts = torch.as_tensor(labels, dtype=torch.float32)
    else:
        raise DataError(f"labels of shape {labels.shape} do not fit n_cfeat={config.n_cfeat}")
    if len(labels) != len(images):
        raise DataError(f"{len(images)} images but {len(labels)} labels")
    return torch.from_numpy(to_model_range(images)), contexts


def _stream_seed(seed: int, stream: int, index: int) -> int:
    """An independent 63-bit seed for (seed, stream, index) (numpy's SeedSequence)."""
    state = np.random.SeedSequence([seed, stream, index]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of `epoch`: a permutation of range(n) fixed by (seed, epoch).

    Examples
    --------
    >>> sorted(epoch_permutation(5, seed=0, epoch=3).tolist())
    [0, 1, 2, 3, 4]
    """
    generator = torch.Generator().manual_seed(_stream_seed(seed, _STREAM_PERMUTATION, epoch))
    return torch.randperm(n, generator=generator)


def step_draws(
    generator: torch.Generator,
    seed: int,
    step: int,
    batch: int,
    image_shape: tuple,
    t_max: int,
    context_dropout: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(t in 1..t_max, noise, keep-the-context mask) of the global batch of `step`.

    `generator` is re-seeded from (seed, step), so its state afterwards depends on
    nothing but those two numbers; it is kept in checkpoints for reference only.
    """
    generator.manual_seed(_stream_seed(seed, _STREAM_STEP, step))
    t = torch.randint(1, t_max + 1, (batch,), generator=generator)
    noise = torch.randn((batch, *image_shape), generator=generator)
    keep = torch.rand(batch, generator=generator) >= context_dropout
    return t, noise, keep
