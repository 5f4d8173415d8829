"""Colours of the sprites: each class's colour roles, their named options and shades.

Each sprite draws one named option per colour role of its class (``skin``, ``outfit``,
...), uniformly and independently. A drawing paints *slots*, a role in a shade
(``"outfit"``, ``"outfit:light"``, ``"outfit:dark"``); :func:`slot_palette` turns the
options drawn into the RGB colour of every slot, and :func:`class_colours` lists every
colour a class can therefore contain.
"""

from __future__ import annotations

import numpy as np

from diffprob.sprites.classes import CLASSES, class_index

__all__ = [
    "BACKGROUND",
    "OUTLINE",
    "SLOTS",
    "class_palettes",
    "palette_probabilities",
    "class_colours",
    "colour_roles",
    "slot_palette",
]

BACKGROUND = (255, 255, 255)
"""Background colour of every sprite (white, like the course's sprites)."""

OUTLINE = (("dark", (34, 24, 40)),)
"""The ``outline`` role shared by every class: near-black with a purple tint."""

# Colour roles per class: role -> ((name, rgb), ...). Each sprite draws one
# option per role, uniformly and independently, whether or not its shape uses
# the role (so the probabilities in palette_probabilities are exact).
_PALETTES: dict[str, dict[str, tuple]] = {
    "hero": {
        "skin": (
            ("pale", (255, 221, 180)),
            ("light", (240, 190, 140)),
            ("tan", (215, 160, 105)),
            ("brown", (170, 110, 65)),
            ("dark", (115, 70, 40)),
        ),
        "hair": (
            ("black", (45, 35, 40)),
            ("brown", (115, 70, 35)),
            ("blonde", (240, 205, 90)),
            ("red", (195, 75, 35)),
            ("white", (220, 220, 230)),
            ("blue", (70, 100, 210)),
        ),
        "outfit": (
            ("red", (205, 45, 45)),
            ("blue", (55, 95, 215)),
            ("green", (45, 150, 65)),
            ("purple", (135, 65, 175)),
            ("orange", (230, 135, 35)),
            ("teal", (35, 155, 155)),
            ("steel", (150, 160, 175)),
        ),
        "trousers": (
            ("brown", (105, 72, 45)),
            ("navy", (45, 55, 110)),
            ("charcoal", (60, 60, 68)),
            ("olive", (95, 100, 50)),
        ),
        "trim": (
            ("gold", (235, 190, 45)),
            ("leather", (125, 80, 40)),
            ("silver", (200, 205, 215)),
        ),
        "eyes": (("dark", (30, 25, 45)),),
    },
    "creature": {
        "body": (
            ("green", (85, 185, 75)),
            ("lime", (160, 215, 60)),
            ("purple", (145, 75, 185)),
            ("magenta", (205, 65, 165)),
            ("cyan", (45, 185, 205)),
            ("red", (215, 65, 55)),
            ("orange", (235, 145, 45)),
            ("blue", (75, 105, 225)),
        ),
        "belly": (
            ("cream", (245, 232, 185)),
            ("yellow", (250, 222, 80)),
            ("pink", (250, 165, 185)),
            ("mint", (195, 240, 175)),
        ),
        "pupil": (
            ("black", (25, 20, 35)),
            ("red", (225, 35, 35)),
            ("purple", (110, 30, 150)),
        ),
        "horn": (
            ("ivory", (240, 230, 205)),
            ("grey", (135, 135, 145)),
            ("gold", (240, 200, 60)),
        ),
        "sclera": (("white", (255, 255, 255)),),
        "mouth": (("dark", (70, 20, 35)),),
    },
    "food": {
        "fruit": (
            ("red", (225, 40, 45)),
            ("orange", (245, 150, 30)),
            ("yellow", (245, 215, 55)),
            ("green", (125, 200, 60)),
            ("plum", (125, 55, 145)),
        ),
        "frosting": (
            ("pink", (250, 155, 195)),
            ("vanilla", (250, 238, 205)),
            ("chocolate", (120, 65, 35)),
            ("mint", (165, 230, 190)),
            ("lavender", (190, 160, 235)),
        ),
        "wrapper": (
            ("pink", (235, 110, 150)),
            ("sky", (110, 170, 235)),
            ("lemon", (240, 210, 80)),
            ("mint", (90, 190, 140)),
        ),
        "scoop": (
            ("strawberry", (250, 150, 175)),
            ("vanilla", (250, 240, 200)),
            ("chocolate", (110, 60, 30)),
            ("pistachio", (170, 215, 120)),
            ("blueberry", (120, 130, 225)),
        ),
        "topping": (
            ("cherry", (210, 25, 45)),
            ("blueberry", (60, 70, 190)),
            ("strawberry", (240, 70, 80)),
        ),
        "leaf": (("green", (60, 160, 55)),),
        "stem": (("brown", (110, 70, 35)),),
        "cone": (("waffle", (220, 165, 85)),),
    },
    "item": {
        "liquid": (
            ("red", (225, 30, 55)),
            ("blue", (45, 95, 235)),
            ("green", (55, 205, 85)),
            ("purple", (165, 60, 210)),
            ("yellow", (245, 205, 45)),
            ("orange", (245, 125, 30)),
        ),
        "blade": (
            ("steel", (195, 200, 212)),
            ("gold", (238, 195, 60)),
            ("obsidian", (85, 85, 110)),
            ("crystal", (140, 215, 245)),
        ),
        "hilt": (
            ("leather", (120, 75, 40)),
            ("crimson", (170, 35, 45)),
            ("royal", (60, 60, 170)),
        ),
        "shield": (
            ("red", (200, 45, 50)),
            ("blue", (50, 85, 200)),
            ("green", (45, 140, 70)),
            ("purple", (125, 60, 165)),
        ),
        "metal": (
            ("silver", (195, 200, 210)),
            ("gold", (235, 190, 55)),
        ),
        "glass": (("glass", (205, 230, 245)),),
        "cork": (("cork", (160, 110, 60)),),
    },
    "spell": {
        "glow": (
            ("fire", (255, 135, 30)),
            ("ice", (70, 195, 255)),
            ("arcane", (175, 80, 255)),
            ("nature", (80, 225, 90)),
            ("holy", (255, 210, 50)),
            ("blood", (230, 35, 70)),
        ),
        "core": (
            ("white", (255, 255, 245)),
            ("pale yellow", (255, 245, 170)),
            ("pale pink", (255, 205, 235)),
        ),
    },
}

# Colour slots per class: index 0 is always the background; "role:shade".
SLOTS = {
    "hero": (
        "outline",
        "skin",
        "skin:dark",
        "hair",
        "hair:light",
        "hair:dark",
        "outfit",
        "outfit:light",
        "outfit:dark",
        "trousers",
        "trousers:dark",
        "trim",
        "trim:dark",
        "eyes",
    ),
    "creature": (
        "outline",
        "body",
        "body:light",
        "body:dark",
        "belly",
        "pupil",
        "horn",
        "horn:dark",
        "sclera",
        "mouth",
    ),
    "food": (
        "outline",
        "fruit",
        "fruit:light",
        "fruit:dark",
        "frosting",
        "frosting:light",
        "frosting:dark",
        "wrapper",
        "wrapper:dark",
        "topping",
        "topping:light",
        "leaf",
        "leaf:dark",
        "stem",
        "cone",
        "cone:dark",
        "scoop",
        "scoop:light",
        "scoop:dark",
    ),
    "item": (
        "outline",
        "liquid",
        "liquid:light",
        "liquid:dark",
        "glass",
        "glass:light",
        "cork",
        "blade",
        "blade:light",
        "blade:dark",
        "hilt",
        "shield",
        "shield:light",
        "shield:dark",
        "metal",
        "metal:dark",
    ),
    "spell": ("glow", "glow:light", "glow:dark", "core"),
}


def _light(rgb):
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.rint(rgb + (255.0 - rgb) * 0.45).astype(np.uint8)


def _dark(rgb):
    return np.rint(np.asarray(rgb, dtype=np.float64) * 0.62).astype(np.uint8)


_SHADES = {"base": lambda c: np.asarray(c, dtype=np.uint8), "light": _light, "dark": _dark}


def _shade_table(options, shade: str) -> np.ndarray:
    """``(len(options), 3)`` uint8: each named option of a role in one shade."""
    return np.stack([_SHADES[shade or "base"](rgb) for _, rgb in options])


def colour_roles(class_name) -> dict[str, tuple]:
    """Every colour role a sprite of one class draws an option for, outline last.

    Returns
    -------
    dict
        ``{role: ((name, (r, g, b)), ...)}`` in the order the generator draws them;
        unlike :func:`class_palettes`, spells keep the outline role (drawn, never painted).

    Examples
    --------
    >>> list(colour_roles("spell"))
    ['glow', 'core', 'outline']
    """
    roles = dict(_PALETTES[CLASSES[class_index(class_name)]])
    roles["outline"] = OUTLINE
    return roles


def slot_palette(class_name, choice) -> np.ndarray:
    """The RGB colour of every slot of each sprite, from the options drawn per role.

    Parameters
    ----------
    class_name : str or int
        A name in :data:`~diffprob.sprites.classes.CLASSES` or its index.
    choice : dict
        ``{role: (k,) int}``: the option of each role (see :func:`colour_roles`) that
        each of ``k`` sprites drew.

    Returns
    -------
    numpy.ndarray
        ``(k, 1 + len(SLOTS[class]), 3)`` uint8; entry 0 is the background and entry
        ``i + 1`` the colour of slot ``SLOTS[class][i]``, so it turns a canvas's index
        image into RGB.
    """
    name = CLASSES[class_index(class_name)]
    roles = colour_roles(name)
    k = len(choice["outline"])
    palette = np.empty((k, len(SLOTS[name]) + 1, 3), dtype=np.uint8)
    palette[:, 0] = BACKGROUND
    for i, slot in enumerate(SLOTS[name]):
        role, _, shade = slot.partition(":")
        palette[:, i + 1] = _shade_table(roles[role], shade)[choice[role]]
    return palette


def class_palettes() -> dict[str, dict[str, tuple]]:
    """Colour roles of every class and their named RGB options.

    Returns
    -------
    dict
        ``{class: {role: ((name, (r, g, b)), ...)}}``. Each sprite picks one
        option per role, uniformly and independently. The class-wide
        ``outline`` role has a single option; spells have no outline.

    Examples
    --------
    >>> palettes = class_palettes()
    >>> sorted(palettes) == sorted(CLASSES)
    True
    >>> palettes["hero"]["skin"][0]
    ('pale', (255, 221, 180))
    """
    out = {}
    for name in CLASSES:
        roles = colour_roles(name)
        if name == "spell":
            roles.pop("outline")
        out[name] = roles
    return out


def palette_probabilities(class_name) -> dict[str, dict[str, float]]:
    """Exact probability of each colour option per role for one class.

    Parameters
    ----------
    class_name : str or int
        A name in :data:`CLASSES` or its index.

    Returns
    -------
    dict
        ``{role: {option name: probability}}``; each role's probabilities
        sum to 1.

    Examples
    --------
    >>> palette_probabilities("spell")["glow"]["fire"]
    0.16666666666666666
    """
    name = CLASSES[class_index(class_name)]
    return {
        role: {opt: 1.0 / len(options) for opt, _ in options}
        for role, options in class_palettes()[name].items()
    }


def class_colours(class_name, *, include_background: bool = True) -> np.ndarray:
    """Every RGB colour that can appear in a sprite of one class.

    The set is exact: base, light and dark shades of each role's options as the
    class uses them, the outline, and (optionally) the white background. A
    generated pixel outside it is a colour the true distribution never makes.

    Returns
    -------
    numpy.ndarray
        ``(m, 3)`` uint8 unique colours, sorted.

    Examples
    --------
    >>> colours = class_colours("spell")
    >>> colours.shape[1], bool((colours == 255).all(axis=1).any())
    (3, True)
    """
    name = CLASSES[class_index(class_name)]
    roles = colour_roles(name)
    rows = [np.asarray(BACKGROUND, dtype=np.uint8)] if include_background else []
    for slot in SLOTS[name]:
        role, _, shade = slot.partition(":")
        rows += list(_shade_table(roles[role], shade))
    return np.unique(np.stack(rows), axis=0)
