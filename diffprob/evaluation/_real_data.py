"""The real sprites :func:`~diffprob.evaluation.evaluate.evaluate` compares a model with.

Two disjoint held-out sets with the same number of images per class as the model's
samples -- the *reference* set every group is scored against, and the ``real`` group
(the floor: what two finite samples of the data distribution differ by) -- and the
model's training set, for the memorisation distances and the independent-pixel
baseline. By default the held-out sprites are fresh draws from the embedded
generator and the training set is rebuilt from the checkpoint's data source.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from diffprob.errors import DataError
from diffprob.util.validation import check_image_batch

__all__ = ["real_sets", "STREAM_INDEPENDENT", "STREAM_NOISE", "STREAM_KID"]

# Keys of the independent random streams that evaluate draws from its ``seed``.
STREAM_REFERENCE, STREAM_REAL, STREAM_INDEPENDENT, STREAM_NOISE, STREAM_KID = range(5)

_SOURCE_RE = re.compile(r"^sprites\(n=(\d+), size=(\d+), seed=(-?\d+)\)$")


def real_sets(reference, train, counts, size, seed, source):
    """((reference images, labels), (real images, labels), (train images, labels)).

    Reference and real are disjoint held-out sets with `counts` images per class,
    drawn from `reference` or, by default, fresh from the generator the model was
    trained on; the training set is `train` or rebuilt from the data source.
    """
    source_params = _generator_source(source)
    reference = _as_images_labels(reference, "reference")
    train = _as_images_labels(train, "train")
    ref, real = _held_out_sets(reference, counts, size, seed, source_params)
    train = _training_set(train, source, source_params, size)
    for what, images in (("reference", ref[0]), ("train", train[0])):
        if images.shape[1:3] != (size, size):
            raise DataError(
                f"{what} images are {images.shape[1]}x{images.shape[2]}, "
                f"the model makes {size}x{size}"
            )
    return ref, real, train


def _generator_source(source: str):
    """(n, size, seed) if `source` names the embedded generator, else None."""
    match = _SOURCE_RE.match(source.strip()) if source else None
    return None if match is None else tuple(int(g) for g in match.groups())


def _as_images_labels(data, what: str):
    """(uint8 images, int64 labels) from SpriteData or a tuple; labels may be one-hot."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)):
        images, labels = data[0], np.asarray(data[1])
    else:
        images, labels = data.images, np.asarray(data.labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    labels = labels.astype(np.int64)
    images = check_image_batch(images, f"{what} images")
    if labels.shape != (len(images),):
        raise DataError(f"{what}: {len(labels)} labels for {len(images)} images")
    return images, labels


def _held_out_sets(reference, counts, size, seed, source_params):
    """Two disjoint held-out sets (reference, real) with `counts` images per class."""
    n_total = int(counts.sum())
    if reference is None:
        if source_params is None:
            raise DataError(
                "the model was not trained on the embedded sprite generator; "
                "give held-out sprites with reference= (CLI: --reference SOURCE)"
            )
        from diffprob.sprites.generator import generate_sprites

        sets = []
        for stream in (STREAM_REFERENCE, STREAM_REAL):
            # Seeds from a SeedSequence keyed by (seed, stream) never coincide with the
            # integer seed the training set was generated from: fresh sprites.
            rng = np.random.default_rng(np.random.SeedSequence([seed, stream, 0x5EED]))
            images, labels = [], []
            for c, k in enumerate(counts):
                if k:
                    im, lb = generate_sprites(int(k), size=size, seed=rng, classes=[c])
                    images.append(im)
                    labels.append(lb)
            sets.append((np.concatenate(images), np.concatenate(labels)))
        return sets
    images, labels = reference
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_REFERENCE]))
    ref_idx, real_idx = [], []
    for c, k in enumerate(counts):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) < 2 * k:
            raise DataError(
                f"reference set has {len(members)} images of class {c}; need {2 * k} "
                f"(two disjoint held-out sets of {k}) for n = {n_total}"
            )
        ref_idx.append(members[:k])
        real_idx.append(members[k : 2 * k])
    ref_idx, real_idx = np.concatenate(ref_idx), np.concatenate(real_idx)
    return (images[ref_idx], labels[ref_idx]), (images[real_idx], labels[real_idx])


def _training_set(train, source, source_params, size):
    if train is not None:
        return train
    if source_params is not None:
        from diffprob.sprites.generator import generate_sprites

        n, gen_size, gen_seed = source_params
        if gen_size != size:
            raise DataError(f"data source {source!r} has size {gen_size}, the model {size}")
        return generate_sprites(n, size=size, seed=gen_seed)
    if source and Path(source).exists():
        from diffprob.sprites.dataset import load_sprite_data

        data = load_sprite_data(source, size=size)
        return data.images, data.labels
    raise DataError(
        f"cannot rebuild the training set from data source {source!r}; "
        "give it with train= (CLI: --train-data SOURCE)"
    )
