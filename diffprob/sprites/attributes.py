"""Each sprite's attributes: its class, shape variant and the named colour of each role it shows.

:func:`generate_sprites_with_attributes` draws exactly the sprites of
:func:`~diffprob.sprites.generator.generate_sprites` (the same images and labels, byte for
byte) and also returns, per sprite, a :class:`SpriteAttributes`: the true values a caption
(:mod:`~diffprob.sprites.captions`) can then describe in words.

A sprite draws one colour option for *every* role of its class, but only some of them
are visible: a hero with a helmet shows no hair, a creature shows a belly only half the
time, a one-scoop ice cream has no second scoop. :attr:`SpriteAttributes.colours`
therefore lists only the roles with at least one pixel in the sprite (in any shade),
read from the drawing's index image, so an attribute is always something one can see.
Visibility is measured at the pixel size drawn: a creature's pupils, for example, are
painted over by its eye whites in about two thirds of 16x16 creatures but show in every
32x32 one. The class-wide ``outline`` role is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffprob.errors import ParameterError
from diffprob.sprites.classes import CLASSES, VARIANTS
from diffprob.sprites.generator import _generate
from diffprob.sprites.palettes import SLOTS, colour_roles

__all__ = ["SpriteAttributes", "generate_sprites_with_attributes"]


@dataclass(frozen=True)
class SpriteAttributes:
    """What one sprite shows: its class, shape variant and named colours.

    Attributes
    ----------
    class_name : str
        A name in :data:`~diffprob.sprites.classes.CLASSES`.
    variant : str
        Its shape variant, a name in ``VARIANTS[class_name]``.
    colours : dict
        ``{role: colour name}`` for each colour role the sprite shows (see
        :func:`~diffprob.sprites.palettes.class_palettes` for the roles and names), in
        the order the generator draws the roles; the outline is left out.

    Examples
    --------
    >>> a = SpriteAttributes("item", "potion", {"liquid": "red", "glass": "glass", "cork": "cork"})
    >>> a.colours["liquid"]
    'red'
    >>> SpriteAttributes("item", "slime", {})
    Traceback (most recent call last):
    ...
    diffprob.errors.ParameterError: unknown variant 'slime' of class 'item'; expected one of ('potion', 'sword', 'shield')
    """

    class_name: str
    variant: str
    colours: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.class_name not in CLASSES:
            raise ParameterError(
                f"unknown sprite class {self.class_name!r}; expected one of {CLASSES}"
            )
        if self.variant not in VARIANTS[self.class_name]:
            raise ParameterError(
                f"unknown variant {self.variant!r} of class {self.class_name!r}; "
                f"expected one of {VARIANTS[self.class_name]}"
            )
        if not isinstance(self.colours, dict):
            raise ParameterError(
                f"colours must be a dict role -> colour name, got {self.colours!r}"
            )
        roles = colour_roles(self.class_name)
        for role, name in self.colours.items():
            if role not in roles or role == "outline":
                raise ParameterError(f"unknown colour role {role!r} of class {self.class_name!r}")
            if name not in [option for option, _ in roles[role]]:
                raise ParameterError(f"unknown {role} colour {name!r} of class {self.class_name!r}")


def generate_sprites_with_attributes(
    n: int, *, size: int = 16, seed=0, classes=None, weights=None
) -> tuple[np.ndarray, np.ndarray, list[SpriteAttributes]]:
    """Sprites as :func:`~diffprob.sprites.generator.generate_sprites` draws them, with attributes.

    Parameters
    ----------
    n, size, seed, classes, weights
        As for :func:`~diffprob.sprites.generator.generate_sprites`.

    Returns
    -------
    images : numpy.ndarray
        ``(n, size, size, 3)`` uint8, identical to ``generate_sprites``'s.
    labels : numpy.ndarray
        ``(n,)`` int64, identical to ``generate_sprites``'s.
    attributes : list of SpriteAttributes
        One per sprite, in the same order: its class, shape variant and the colour names
        of the roles it shows.

    Notes
    -----
    The generator draws each class as one batch; the attributes are read from each batch
    (the colour option drawn per role, the variant the drawing recorded, the slots its
    index image contains) and put back at the sprites' positions.

    Examples
    --------
    >>> images, labels, attrs = generate_sprites_with_attributes(4, seed=1)
    >>> [a.class_name for a in attrs] == [CLASSES[i] for i in labels]
    True
    >>> from diffprob.sprites.generator import generate_sprites
    >>> bool(np.array_equal(images, generate_sprites(4, seed=1)[0]))
    True
    """
    images, labels, drawn = _generate(n, size, seed, classes, weights)
    attributes: list[SpriteAttributes | None] = [None] * len(labels)
    for name, (where, choice, canvas) in drawn.items():
        for i, attrs in zip(where, _batch_attributes(name, choice, canvas), strict=True):
            attributes[i] = attrs
    return images, labels, attributes


def _batch_attributes(name, choice, canvas) -> list[SpriteAttributes]:
    """The attributes of one class's batch, from its colour choices and its canvas."""
    k = len(canvas.variant)
    roles = colour_roles(name)
    slot_roles = ["background"] + [slot.partition(":")[0] for slot in SLOTS[name]]
    # present[i, j]: sprite i has a pixel of index j (0 background, j >= 1 slot j - 1)
    present = np.zeros((k, len(slot_roles)), dtype=bool)
    present[np.arange(k)[:, None], canvas.index.reshape(k, -1)] = True
    shown = {
        role: present[:, [j for j, r in enumerate(slot_roles) if r == role]].any(axis=1)
        for role in roles
        if role != "outline"
    }
    out = []
    for i in range(k):
        colours = {role: roles[role][choice[role][i]][0] for role in shown if shown[role][i]}
        out.append(SpriteAttributes(name, VARIANTS[name][canvas.variant[i]], colours))
    return out
