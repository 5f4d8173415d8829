"""Training the sprite classifier (:class:`~diffprob.evaluation.classifier.SpriteClassifier`).

Plain supervised learning with AdamW on labelled sprites, with random horizontal flips
(sprites facing either way are the same class); it stops at the first non-finite loss
instead of saving diverged weights.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from diffprob.errors import DataError, ParameterError, TrainingDivergedError
from diffprob.evaluation.classifier import SpriteClassifier, classifier_input
from diffprob.util.validation import check_image_batch

__all__ = ["train_classifier"]


def _unpack_data(data):
    """(images, labels, class_names) from a SpriteData-like object or a tuple."""
    if isinstance(data, (tuple, list)):
        images, labels = data[0], data[1]
        class_names = data[2] if len(data) > 2 else None
    else:
        images, labels = data.images, data.labels
        class_names = getattr(data, "class_names", None)
    labels = np.asarray(labels)
    if labels.ndim == 2:  # one-hot (the course's format)
        labels = labels.argmax(axis=1)
    labels = labels.astype(np.int64)
    images = check_image_batch(images)
    if labels.shape != (len(images),):
        raise DataError(f"{len(labels)} labels for {len(images)} images")
    if len(images) == 0:
        raise DataError("no training images")
    if class_names is None:
        class_names = [str(i) for i in range(int(labels.max()) + 1)]
    return images, labels, tuple(class_names)


def train_classifier(
    data,
    steps: int = 600,
    seed: int = 0,
    *,
    batch_size: int = 128,
    lr: float = 3e-3,
    width: int = 32,
    feature_dim: int = 64,
    device="cpu",
    progress: bool = False,
) -> SpriteClassifier:
    """Train a :class:`SpriteClassifier` on labelled sprites.

    Parameters
    ----------
    data : SpriteData or tuple
        An object with ``images`` (uint8 (N, H, W, 3)), ``labels`` (int (N,) or
        one-hot (N, K)) and ``class_names``, or a tuple ``(images, labels[,
        class_names])``.
    steps : int, optional
        Optimiser steps (mini-batches).
    seed : int, optional
        Seeds the weight initialisation, batch order and augmentation.
    batch_size : int, optional
    lr : float, optional
        Peak AdamW learning rate (cosine decay to 0 over `steps`).
    width, feature_dim : int, optional
        Architecture (see :class:`SpriteClassifier`).
    device : str or torch.device, optional
    progress : bool, optional
        Show a tqdm progress bar on stderr.

    Returns
    -------
    SpriteClassifier
        In eval mode, on the CPU. Its ``train_info`` attribute records the
        settings, final loss and wall time.

    Notes
    -----
    Cross-entropy with AdamW (weight decay 1e-4). Each batch is drawn with
    replacement and flipped left-right at random (every sprite class is
    plausible mirrored), which is the only augmentation.

    Training stops at the first step whose loss is not finite (too high a
    learning rate) with a :class:`~diffprob.errors.TrainingDivergedError`: the
    weights are then lost and must not be used.

    Examples
    --------
    >>> from diffprob.sprites.generator import generate_sprites
    >>> images, labels = generate_sprites(64, seed=1)
    >>> model = train_classifier((images, labels), steps=2, seed=0, batch_size=16)
    >>> model.n_classes
    5
    """
    images, labels, class_names = _unpack_data(data)
    steps = int(steps)
    if steps < 1:
        raise ParameterError(f"steps must be >= 1, got {steps}")
    if int(batch_size) < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ParameterError(f"lr must be a finite number > 0, got {lr!r}")
    if int(labels.min()) < 0 or int(labels.max()) >= len(class_names):
        raise DataError(f"labels must be in [0, {len(class_names) - 1}]")
    device = torch.device(device)
    torch_gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))  # weight initialisation
        model = SpriteClassifier(
            len(class_names),
            width=width,
            feature_dim=feature_dim,
            image_size=images.shape[1],
            class_names=class_names,
        )
    if images.shape[1] != images.shape[2]:
        raise DataError(f"images must be square, got {images.shape[1]}x{images.shape[2]}")
    model.to(device).train()
    x_all = classifier_input(images)
    y_all = torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps, pct_start=0.1
    )
    from tqdm.auto import tqdm

    start = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for step in tqdm(range(steps), disable=not progress, desc="classifier", unit="step"):
        idx = torch.randint(0, len(x_all), (int(batch_size),), generator=torch_gen)
        x, y = x_all[idx], y_all[idx]
        flip = torch.rand(len(x), generator=torch_gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        if not bool(torch.isfinite(loss)):  # the weights are already lost: stop now
            raise TrainingDivergedError(
                f"classifier training diverged: the loss is {float(loss.detach())} at step {step + 1} "
                f"of {steps} (lr {lr:g}; try a lower learning rate); nothing was saved"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.train_info = {
        "steps": steps,
        "seed": int(seed),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "n_train": len(images),
        "final_loss": float(loss.detach()),
        "wall_time_s": time.perf_counter() - start,
    }
    return model.cpu().eval()
