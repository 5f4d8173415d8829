"""Procedural pixel-art sprites with labels and a known ground truth.

A small embedded data set for the sprite DDPM: no download, no licence question,
and -- because we wrote the generator -- its true distributions are known
exactly. Five classes with distinct shape grammars (:mod:`~diffprob.sprites.drawing`):

* ``hero`` -- a front-facing humanoid (head, hair or helmet, eyes, tunic, arms,
  belt, legs, boots); mirror symmetric.
* ``creature`` -- a front-facing monster (slime, ghost, round or tall body with
  horns, ears or antennae, big eyes, mouth, fangs, feet); mirror symmetric.
* ``food`` -- a fruit with stem and leaf, a cupcake, or an ice-cream cone.
* ``item`` -- a potion bottle with coloured liquid, a diagonal sword, or a shield.
* ``spell`` -- a radial glow: star burst, orb with a ring, or spiral, with loose
  sparkles around it; no outline.

Every sprite is drawn on a white background. Heroes, creatures, food and items
have a 1-pixel dark outline and are shaded with lighter and darker variants of
their colours; spells glow from a pale core to darker edges instead. (Creature
eye whites are pure white too, so "white" alone does not mean background.)

This module draws the labels and, per class, the colours of each sprite
(:mod:`~diffprob.sprites.palettes`) and its shape (:mod:`~diffprob.sprites.drawing`).
All random draws are independent of ``size``, so the same seed gives the same
sprites at 16 and 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diffprob.errors import ParameterError
from diffprob.sprites.classes import CLASSES, VARIANTS, class_index, class_indices
from diffprob.sprites.drawing import DRAWERS
from diffprob.sprites.drawing.canvas import Canvas
from diffprob.sprites.palettes import colour_roles, slot_palette

__all__ = ["generate_sprites", "class_probabilities", "variant_probabilities"]


def class_probabilities(classes=None, weights: Sequence[float] | None = None) -> np.ndarray:
    """Probability of each label under :func:`generate_sprites`.

    Parameters
    ----------
    classes : sequence of str or int, optional
        Classes to draw from (names or indices into :data:`CLASSES`); all by default.
    weights : sequence of float, optional
        Relative weights, one per class in ``classes`` (in :data:`CLASSES` order).
        Uniform by default.

    Returns
    -------
    numpy.ndarray
        ``(len(CLASSES),)`` float64 probabilities summing to 1; zero for classes
        not drawn.

    Examples
    --------
    >>> class_probabilities()
    array([0.2, 0.2, 0.2, 0.2, 0.2])
    >>> class_probabilities(["hero", "spell"], weights=[3, 1])
    array([0.75, 0.  , 0.  , 0.  , 0.25])
    """
    chosen = class_indices(classes)
    p = np.zeros(len(CLASSES))
    if weights is None:
        p[chosen] = 1.0 / len(chosen)
        return p
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(chosen),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ParameterError(
            f"weights must be {len(chosen)} finite non-negative numbers with a positive sum"
        )
    p[chosen] = w / w.sum()
    return p


def generate_sprites(
    n: int,
    *,
    size: int = 16,
    seed=0,
    classes=None,
    weights: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate labelled pixel-art sprites, deterministically from a seed.

    Parameters
    ----------
    n : int
        Number of sprites (>= 1).
    size : int, default 16
        Width and height in pixels: 16, 32, 48 or 64. Every size is drawn at
        its own resolution from the same 16-unit design, with a 1-pixel
        outline, so larger sprites show finer curves rather than bigger pixels.
    seed : int or numpy.random.Generator, default 0
        Seed for ``numpy.random.default_rng``. The same seed gives identical
        arrays, and the same sprites at every ``size``.
    classes : sequence of str or int, optional
        Restrict to these classes; labels still index :data:`CLASSES`.
    weights : sequence of float, optional
        Class weights (see :func:`class_probabilities`). Without weights the
        classes are exactly balanced (counts differ by at most one) and
        shuffled; with weights each label is drawn independently.

    Returns
    -------
    images : numpy.ndarray
        ``(n, size, size, 3)`` uint8 RGB on a white background.
    labels : numpy.ndarray
        ``(n,)`` int64 indices into :data:`CLASSES`.

    Notes
    -----
    Each class draws, per sprite: a shape variant (uniform over
    :func:`variant_probabilities`), one colour per role (uniform over
    :func:`class_palettes`), then continuous shape parameters. Only colours
    returned by :func:`class_colours` ever appear in a sprite of that class.
    Heroes and creatures are exactly left-right mirror symmetric.

    Examples
    --------
    >>> images, labels = generate_sprites(10, seed=1)
    >>> images.shape, images.dtype, labels.dtype
    ((10, 16, 16, 3), dtype('uint8'), dtype('int64'))
    >>> np.bincount(labels, minlength=5)
    array([2, 2, 2, 2, 2])
    >>> bool(np.array_equal(generate_sprites(10, seed=1)[0], images))
    True
    """
    images, labels, _ = _generate(n, size, seed, classes, weights)
    return images, labels


def _generate(n, size, seed, classes, weights):
    """:func:`generate_sprites`, also returning how each class's batch was drawn.

    The third value maps each class drawn to ``(where, choice, canvas)``: the positions
    of its sprites, the colour option drawn per role (:func:`_render_class`) and the
    canvas with its index image and shape variants.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    if size not in (16, 32, 48, 64):
        raise ParameterError(f"size must be 16, 32, 48 or 64, got {size!r}")
    rng = np.random.default_rng(seed)
    chosen = class_indices(classes)
    if weights is None:
        labels = np.asarray(chosen, dtype=np.int64)[np.arange(n) % len(chosen)]
        labels = rng.permutation(labels)
    else:
        p = class_probabilities(chosen, weights)
        labels = rng.choice(len(CLASSES), size=n, p=p).astype(np.int64)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    drawn = {}
    for c, name in enumerate(CLASSES):
        where = np.flatnonzero(labels == c)
        if where.size:
            images[where], choice, canvas = _render_class(name, where.size, size, rng)
            drawn[name] = (where, choice, canvas)
    return images, labels, drawn


def _render_class(name, k, size, rng):
    # The colours are drawn before the shape, one option per role in colour_roles
    # order; changing either order would change every sprite of the data set.
    choice = {
        role: rng.integers(len(options), size=k) for role, options in colour_roles(name).items()
    }
    canvas = Canvas(name, k, size)
    DRAWERS[name](canvas, rng, k)
    palette = slot_palette(name, choice)
    return palette[np.arange(k)[:, None, None], canvas.index], choice, canvas


def variant_probabilities(class_name) -> dict[str, float]:
    """Exact probability of each shape variant of one class.

    Examples
    --------
    >>> variant_probabilities("item")
    {'potion': 0.3333333333333333, 'sword': 0.3333333333333333, 'shield': 0.3333333333333333}
    """
    variants = VARIANTS[CLASSES[class_index(class_name)]]
    return {v: 1.0 / len(variants) for v in variants}
