"""The canvas the sprite drawings paint on, and the random shape parameters they draw.

A :class:`Canvas` holds the index image of a batch of ``k`` sprites of one class.
Shapes are defined in *design units*: the canvas is :data:`DESIGN` = 16 units wide at
every pixel size, and the pixel-centre coordinates ``y (1, S, 1)`` and ``x (1, 1, S)``
are in those units. A 32x32 sprite is therefore drawn at its own resolution, not
upscaled: curves are rasterised twice as finely and the outline stays 1 pixel thick.
Shape parameters drawn with :func:`uniform` and :func:`pick` have shape ``(k, 1, 1)``
and broadcast against the coordinates, so every mask is one numpy expression over the
batch.
"""

from __future__ import annotations

import numpy as np

from diffprob.sprites.palettes import SLOTS

__all__ = ["DESIGN", "Canvas", "uniform", "pick"]

DESIGN = 16.0
"""Canvas width in design units at every pixel size."""


class Canvas:
    """Index image for a batch of ``k`` sprites of one class, painted by masks.

    Index 0 is the background; index ``i + 1`` is the slot ``SLOTS[name][i]`` (see
    :func:`~diffprob.sprites.palettes.slot_palette`). A later paint wins. The drawing
    records the shape variant it drew for each sprite in ``variant``, ``(k,)`` indices
    into ``VARIANTS[name]``.
    """

    def __init__(self, name, k, size):
        self.name = name
        self.slots = {s: i + 1 for i, s in enumerate(SLOTS[name])}
        self.index = np.zeros((k, size, size), dtype=np.uint8)
        self.variant = None  # set by the drawing: (k,) variant indices
        c = (np.arange(size, dtype=np.float32) + 0.5) * np.float32(DESIGN / size)
        self.y = c[None, :, None]
        self.x = c[None, None, :]
        self.ax = np.abs(self.x - np.float32(DESIGN / 2))  # distance from the mirror axis
        self.size = size

    def paint(self, mask, slot):
        np.copyto(self.index, np.uint8(self.slots[slot]), where=mask)

    def filled(self):
        return self.index > 0

    def outline(self, slot="outline"):
        """Paint the 4-neighbour border around everything painted so far."""
        fg = self.filled()
        ring = fg.copy()
        ring[:, 1:, :] |= fg[:, :-1, :]
        ring[:, :-1, :] |= fg[:, 1:, :]
        ring[:, :, 1:] |= fg[:, :, :-1]
        ring[:, :, :-1] |= fg[:, :, 1:]
        self.paint(ring & ~fg, slot)

    def design_grid(self, values):
        """Repeat a (k, 16, 16) design-unit array up to the pixel size."""
        rep = self.size // int(DESIGN)
        return np.repeat(np.repeat(values, rep, axis=1), rep, axis=2)


def uniform(rng, low, high, k):
    """``(k, 1, 1)`` float32 shape parameters, uniform in [low, high)."""
    return rng.uniform(low, high, size=k).astype(np.float32)[:, None, None]


def pick(rng, n_options, k):
    """``(k, 1, 1)`` int choices, uniform over ``0 .. n_options - 1``."""
    return rng.integers(n_options, size=k)[:, None, None]
