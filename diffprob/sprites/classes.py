"""The five sprite classes: their names, their shape variants, and looking a class up.

A label ``i`` means ``CLASSES[i]``; a shape-variant index ``v`` of class ``c`` means
``VARIANTS[c][v]``. Every module of :mod:`diffprob.sprites` resolves a class given by
name or index through :func:`class_index`, so the error messages are the same everywhere.
"""

from __future__ import annotations

import numpy as np

from diffprob.errors import ParameterError

__all__ = ["CLASSES", "VARIANTS", "class_index", "class_indices"]

CLASSES = ("hero", "creature", "food", "item", "spell")
"""Class names; a label ``i`` means ``CLASSES[i]``."""

VARIANTS = {
    "hero": ("short hair", "long hair", "spiky hair", "helmet"),
    "creature": ("slime", "round", "ghost", "tall"),
    "food": ("fruit", "cupcake", "ice cream"),
    "item": ("potion", "sword", "shield"),
    "spell": ("star", "orb", "spiral"),
}
"""Shape variants per class, in the order of the variant index each drawing draws."""


def class_index(name_or_index) -> int:
    """The label of a class given by name or by index into :data:`CLASSES`.

    Examples
    --------
    >>> class_index("food"), class_index(4)
    (2, 4)
    """
    if isinstance(name_or_index, (int, np.integer)) and not isinstance(name_or_index, bool):
        if 0 <= name_or_index < len(CLASSES):
            return int(name_or_index)
        raise ParameterError(f"class index must be in [0, {len(CLASSES) - 1}], got {name_or_index}")
    if isinstance(name_or_index, str) and name_or_index in CLASSES:
        return CLASSES.index(name_or_index)
    raise ParameterError(f"unknown sprite class {name_or_index!r}; expected one of {CLASSES}")


def class_indices(classes) -> list[int]:
    """Sorted unique labels of ``classes`` (names or indices, or one of them); all if None.

    Examples
    --------
    >>> class_indices(["spell", "hero", 0])
    [0, 4]
    """
    if classes is None:
        return list(range(len(CLASSES)))
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    out = sorted({class_index(c) for c in classes})
    if not out:
        raise ParameterError("classes must name at least one class")
    return out
