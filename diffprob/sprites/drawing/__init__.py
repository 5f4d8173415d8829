"""Drawing each sprite class, for a whole batch at once, into an index image.

* :mod:`~diffprob.sprites.drawing.canvas` -- the :class:`Canvas` in design units and the
  random shape parameters;
* :mod:`~diffprob.sprites.drawing.figures` -- heroes and creatures (mirror symmetric);
* :mod:`~diffprob.sprites.drawing.objects` -- food and items;
* :mod:`~diffprob.sprites.drawing.spells` -- spells.

Each ``draw_<class>(canvas, rng, k)`` draws its shape variant and continuous shape
parameters from ``rng`` and paints colour slots with masks; :data:`DRAWERS` maps a class
name to its function. The order of the draws is part of the data set: the same seed must
keep giving the same pixels.
"""

from __future__ import annotations

from diffprob.sprites.drawing.figures import draw_creature, draw_hero
from diffprob.sprites.drawing.objects import draw_food, draw_item
from diffprob.sprites.drawing.spells import draw_spell

__all__ = ["DRAWERS"]

DRAWERS = {
    "hero": draw_hero,
    "creature": draw_creature,
    "food": draw_food,
    "item": draw_item,
    "spell": draw_spell,
}
"""Class name -> the function that draws a batch of that class."""
