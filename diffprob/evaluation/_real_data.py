"""The real sprites :func:`~diffprob.evaluation.evaluate.evaluate` compares a model with.

Two disjoint held-out sets -- the ``real`` group, a second real sample with the same
number of images per class as the model's samples (what sampling noise alone gives),
and the *reference* set every group is scored against, large where sprites are free
(in the same class proportions) -- and the model's training set, for the memorisation
distances and the independent-pixel baseline. By default the held-out sprites are fresh
draws from the embedded generator and the training set is rebuilt from the checkpoint's
data source.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from diffprob.errors import DataError
from diffprob.util.validation import check_image_batch

__all__ = ["real_sets", "reference_counts", "STREAM_INDEPENDENT", "STREAM_NOISE", "STREAM_KID"]

# Keys of the independent random streams that evaluate draws from its ``seed``.
STREAM_REFERENCE, STREAM_REAL, STREAM_INDEPENDENT, STREAM_NOISE, STREAM_KID = range(5)

_SOURCE_RE = re.compile(r"^sprites\(n=(\d+), size=(\d+), seed=(-?\d+)\)$")


def real_sets(reference, train, counts, n_reference, size, seed, source):
    """((reference images, labels), (real images, labels), (train images, labels)).

    Real holds `counts` images per class; the reference, disjoint from it, about
    `n_reference` in the same proportions (None: see :func:`reference_counts`). Both are
    drawn from `reference` or, by default, fresh from the generator the model was
    trained on; the training set is `train` or rebuilt from the data source.
    """
    source_params = _generator_source(source)
    reference = _as_images_labels(reference, "reference")
    train = _as_images_labels(train, "train")
    ref_counts = reference_counts(counts, n_reference, reference, source_params is not None)
    ref, real = _held_out_sets(reference, counts, ref_counts, size, seed, source_params)
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


def reference_counts(counts, n_reference, reference, from_generator: bool) -> np.ndarray:
    """Reference images per class: a whole multiple of `counts`, so proportions match.

    `n_reference` given: the multiple that reaches it. Otherwise, from the generator,
    the multiple that reaches ``max(DEFAULT_REFERENCE_N, n)``; from a finite `reference`,
    the largest multiple its images allow beside the real group (at least 1).
    """
    from diffprob.evaluation.evaluate import DEFAULT_REFERENCE_N

    counts = np.asarray(counts, np.int64)
    n = int(counts.sum())
    if n_reference is None and reference is not None and not from_generator:
        labels = reference[1]
        spare = [(np.sum(labels == c) - k) // k for c, k in enumerate(counts) if k]
        return counts * max(1, min(spare))
    if n_reference is None:
        n_reference = max(DEFAULT_REFERENCE_N, n)
    return counts * max(1, -(-int(n_reference) // n))


def _held_out_sets(reference, counts, ref_counts, size, seed, source_params):
    """Two disjoint held-out sets: reference (`ref_counts` per class), real (`counts`)."""
    n_total = int(counts.sum())
    if reference is None:
        if source_params is None:
            raise DataError(
                "the model was not trained on the embedded sprite generator; "
                "give held-out sprites with reference= (CLI: --reference SOURCE)"
            )
        from diffprob.sprites.generator import generate_sprites

        sets = []
        for stream, per_class in ((STREAM_REFERENCE, ref_counts), (STREAM_REAL, counts)):
            # Seeds from a SeedSequence keyed by (seed, stream) never coincide with the
            # integer seed the training set was generated from: fresh sprites.
            rng = np.random.default_rng(np.random.SeedSequence([seed, stream, 0x5EED]))
            images, labels = [], []
            for c, k in enumerate(per_class):
                if k:
                    im, lb = generate_sprites(int(k), size=size, seed=rng, classes=[c])
                    images.append(im)
                    labels.append(lb)
            sets.append((np.concatenate(images), np.concatenate(labels)))
        return sets
    images, labels = reference
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_REFERENCE]))
    ref_idx, real_idx = [], []
    for c, (k, k_ref) in enumerate(zip(counts, ref_counts, strict=True)):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) < k + k_ref:
            raise DataError(
                f"reference set has {len(members)} images of class {c}; need {k + k_ref} "
                f"({k} for the real group and {k_ref} to compare with) for n = {n_total}"
            )
        real_idx.append(members[:k])
        ref_idx.append(members[k : k + k_ref])
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
