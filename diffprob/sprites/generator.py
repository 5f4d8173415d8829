"""Procedural pixel-art sprites with labels and a known ground truth.

A small embedded data set for the sprite DDPM: no download, no licence question,
and -- because we wrote the generator -- its true distributions are known
exactly. Five classes with distinct shape grammars:

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

How it works: each class is drawn for a whole batch at once. Random shape
parameters have shape ``(k, 1, 1)`` and broadcast against the pixel-centre
coordinates ``y (1, S, 1)`` and ``x (1, 1, S)``, so every mask is one numpy
expression over the batch. Masks paint *slot* indices into an index image;
each slot is a colour role (``skin``, ``outfit``, ...) in a shade (base,
light, dark), and a per-sprite palette turns indices into RGB.

Shapes are defined in *design units*: the canvas is 16 units wide at every
size. A 32x32 sprite is therefore drawn at its own resolution, not upscaled:
curves are rasterised twice as finely and the outline stays 1 pixel thick, so
it shows more detail. All random draws are independent of ``size``, so the same
seed gives the same sprites at 16 and 32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diffprob.errors import ParameterError

__all__ = [
    "CLASSES",
    "BACKGROUND",
    "generate_sprites",
    "class_probabilities",
    "class_palettes",
    "palette_probabilities",
    "variant_probabilities",
    "class_colours",
    "snap_to_palette",
    "is_mirror_symmetric",
    "symmetry_score",
]

CLASSES = ("hero", "creature", "food", "item", "spell")
"""Class names; a label ``i`` means ``CLASSES[i]``."""

BACKGROUND = (255, 255, 255)
"""Background colour of every sprite (white, like the course's sprites)."""

_DESIGN = 16.0  # canvas width in design units at every pixel size
_OUTLINE = (("dark", (34, 24, 40)),)  # near-black with a purple tint

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

# Shape variants per class, each drawn with equal probability.
_VARIANTS = {
    "hero": ("short hair", "long hair", "spiky hair", "helmet"),
    "creature": ("slime", "round", "ghost", "tall"),
    "food": ("fruit", "cupcake", "ice cream"),
    "item": ("potion", "sword", "shield"),
    "spell": ("star", "orb", "spiral"),
}

_SYMMETRIC = {"hero": True, "creature": True, "food": False, "item": False, "spell": False}


def _light(rgb):
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.rint(rgb + (255.0 - rgb) * 0.45).astype(np.uint8)


def _dark(rgb):
    return np.rint(np.asarray(rgb, dtype=np.float64) * 0.62).astype(np.uint8)


_SHADES = {"base": lambda c: np.asarray(c, dtype=np.uint8), "light": _light, "dark": _dark}


def _roles(name):
    roles = dict(_PALETTES[name])
    roles["outline"] = _OUTLINE
    return roles


# Colour slots per class: index 0 is always the background; "role:shade".
_SLOTS = {
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


def _slot_colour(name, slot, choice):
    role, _, shade = slot.partition(":")
    options = _roles(name)[role]
    table = np.stack([_SHADES[shade or "base"](rgb) for _, rgb in options])
    return table[choice[role]]


class _Canvas:
    """Index image for a batch of ``k`` sprites of one class, painted by masks."""

    def __init__(self, name, k, size):
        self.name = name
        self.slots = {s: i + 1 for i, s in enumerate(_SLOTS[name])}
        self.index = np.zeros((k, size, size), dtype=np.uint8)
        c = (np.arange(size, dtype=np.float32) + 0.5) * np.float32(_DESIGN / size)
        self.y = c[None, :, None]
        self.x = c[None, None, :]
        self.ax = np.abs(self.x - np.float32(_DESIGN / 2))  # distance from the mirror axis
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
        rep = self.size // int(_DESIGN)
        return np.repeat(np.repeat(values, rep, axis=1), rep, axis=2)


def _u(rng, low, high, k):
    return rng.uniform(low, high, size=k).astype(np.float32)[:, None, None]


def _pick(rng, n_options, k):
    return rng.integers(n_options, size=k)[:, None, None]


# --------------------------------------------------------------------- hero
def _draw_hero(cv, rng, k):
    y, ax = cv.y, cv.ax
    variant = _pick(rng, 4, k)
    head_top = _u(rng, 1.6, 2.4, k)
    ry = _u(rng, 2.5, 3.1, k)
    rx = _u(rng, 2.6, 3.4, k)
    hy = head_top + ry
    torso_top = hy + ry * np.float32(0.85)
    torso_h = _u(rng, 3.2, 4.2, k)
    waist = torso_top + torso_h
    shoulder_w = _u(rng, 2.6, 3.6, k)
    waist_w = shoulder_w - _u(rng, 0.0, 0.9, k)
    arm_len = _u(rng, 2.8, 4.0, k)
    arm_w = _u(rng, 1.0, 1.5, k)
    leg_gap = _u(rng, 0.2, 0.9, k)
    leg_w = _u(rng, 1.3, 2.0, k)
    feet = _u(rng, 14.0, 15.0, k)
    eye_dx = np.where(rng.random(k) < 0.5, 1.5, 2.0).astype(np.float32)[:, None, None]
    eye_y = hy + _u(rng, -0.1, 0.8, k)
    has_belt = (rng.random(k) < 0.6)[:, None, None]
    has_mouth = (rng.random(k) < 0.5)[:, None, None]

    # legs and boots
    legs = (ax >= leg_gap) & (ax < leg_gap + leg_w) & (y >= waist - 0.5) & (y < feet)
    cv.paint(legs, "trousers")
    cv.paint(legs & (ax >= leg_gap + leg_w - 0.6), "trousers:dark")
    cv.paint(legs & (y >= feet - 1.2), "trim:dark")
    # torso: trapezoid from shoulders to waist, shaded at its sides and lit on top
    t = np.clip((y - torso_top) / torso_h, 0, 1)
    half = shoulder_w + (waist_w - shoulder_w) * t
    torso = (ax < half) & (y >= torso_top) & (y < waist)
    # arms hang beside the torso; the last unit is the hand
    arm_in = half + 0.05
    arms = (ax >= arm_in) & (ax < arm_in + arm_w) & (y >= torso_top + 0.4)
    arms = arms & (y < torso_top + arm_len)
    cv.paint(arms, "outfit:dark")
    cv.paint(arms & (y >= torso_top + arm_len - 1.1), "skin")
    cv.paint(torso, "outfit")
    cv.paint(torso & (ax >= half - 0.8), "outfit:dark")
    cv.paint(torso & (y < torso_top + 1.0) & (ax < half - 0.8), "outfit:light")
    cv.paint(torso & has_belt & (y >= waist - 1.0), "trim")
    # head with cheek shading
    head = ((ax / rx) ** 2 + ((y - hy) / ry) ** 2) < 1
    cv.paint(head, "skin")
    cv.paint(head & (ax >= rx - 0.7) & (y > hy), "skin:dark")
    # hair styles / helmet
    cap = head & (y < hy - ry * 0.35)
    short = (variant == 0) & cap
    long_ = (variant == 1) & (
        cap | ((ax >= rx - 0.8) & (ax < rx + 0.5) & (y >= hy - ry * 0.5) & (y < hy + ry + 1.5))
    )
    spike_h = head_top - 1.0 + np.float32(0.9) * np.abs(np.sin(ax * 2.2))
    spiky = (variant == 2) & (cap | ((y >= spike_h) & (y < hy) & (ax < rx - 0.2)))
    hair = short | long_ | spiky
    cv.paint(hair, "hair")
    cv.paint(hair & (y < head_top + 1.0) & (ax < rx * 0.6), "hair:light")
    cv.paint(long_ & (y > hy), "hair:dark")
    helmet = (variant == 3) & (
        (((ax / (rx + 0.5)) ** 2 + ((y - hy) / (ry + 0.5)) ** 2) < 1) & (y < hy - ry * 0.2)
    )
    crest = (variant == 3) & (ax < 0.6) & (y >= head_top - 0.9) & (y < hy)
    cv.paint(helmet | crest, "trim")
    cv.paint((helmet & (y >= hy - ry * 0.2 - 1.0)) | (crest & (y < head_top)), "trim:dark")
    # the face goes on last so that long hair never hides the eyes
    cv.paint(head & (np.abs(ax - eye_dx) < 0.5) & (np.abs(y - eye_y) < 0.5), "eyes")
    cv.paint(head & has_mouth & (ax < 0.75) & (np.abs(y - eye_y - 1.9) < 0.5), "skin:dark")
    cv.outline()


# ----------------------------------------------------------------- creature
_CREATURE_PROFILES = np.array(
    [
        [0.30, 0.70, 0.90, 1.00, 1.00],  # slime: dome on a flat base
        [0.45, 0.88, 1.00, 0.88, 0.50],  # round
        [0.55, 0.85, 0.90, 0.95, 1.00],  # ghost: widening skirt
        [0.70, 0.78, 0.80, 0.80, 0.70],  # tall
    ],
    dtype=np.float32,
)


def _draw_creature(cv, rng, k):
    y, ax = cv.y, cv.ax
    variant = _pick(rng, 4, k)
    top = _u(rng, 3.6, 5.5, k)
    bottom = _u(rng, 12.5, 14.5, k)
    width = _u(rng, 4.6, 6.4, k)
    jitter = rng.uniform(-0.12, 0.12, size=(k, 5)).astype(np.float32)
    profile = _CREATURE_PROFILES[variant[:, 0, 0]] + jitter
    eyes = _pick(rng, 3, k)  # 0, 1: two eyes (wide, close); 2: one big eye
    eye_t = _u(rng, 0.25, 0.42, k)
    mouth_t = _u(rng, 0.60, 0.75, k)
    mouth_w = _u(rng, 0.8, 2.6, k)
    fangs = (rng.random(k) < 0.5)[:, None, None]
    extra = _pick(rng, 4, k)  # 0 none, 1 horns, 2 ears, 3 antennae
    has_belly = (rng.random(k) < 0.5)[:, None, None]

    h = bottom - top
    t = (y - top) / h  # 0 at the top, 1 at the bottom
    # per-row half-widths: a random 5-point profile, linearly interpolated
    pos = np.clip(t, 0, 1) * 4
    i0 = np.minimum(pos.astype(np.int64), 3)
    frac = pos - i0
    rows = np.arange(k)[:, None, None]
    half = width * (profile[rows, i0] * (1 - frac) + profile[rows, i0 + 1] * frac)
    half = np.minimum(half, 6.8)
    body = (ax < half) & (t >= 0) & (t < 1)
    # round the top corners so the body is a dome, not a box
    body = body & (~((t < 0.12) & (ax > half * 0.75)))
    ghost = variant == 2
    # ghost skirt: alternate 1-unit tails along the bottom edge
    skirt = ghost & (y >= bottom - 1.2) & ((np.floor(ax + 0.5) % 2) == 1)
    body = body & (~skirt)
    # appendages above the head
    horn_x = width * 0.45
    rise = top - y  # > 0 above the body top
    horns = (extra == 1) & (rise > -0.5) & (rise < 2.6) & (np.abs(ax - horn_x) < 0.9 - rise * 0.3)
    ears = (
        (extra == 2) & (rise > -0.5) & (rise < 2.0) & (np.abs(ax - horn_x - 0.4) < 1.3 - rise * 0.5)
    )
    stalk = (extra == 3) & (rise > -0.5) & (rise < 1.8) & (np.abs(ax - horn_x) < 0.5)
    bulb = (extra == 3) & ((ax - horn_x) ** 2 + (rise - 2.2) ** 2 < 0.9)
    # feet for non-slimes
    feet = (variant != 0) & ~ghost & (y >= bottom - 0.2) & (y < bottom + 1.0)
    feet = feet & ((ax >= 1.2) & (ax < 3.4))

    cv.paint(feet, "body:dark")
    cv.paint(ears, "body")
    cv.paint(horns, "horn")
    cv.paint(horns & (rise < 0.6), "horn:dark")
    cv.paint(stalk, "body:dark")
    cv.paint(bulb, "horn")
    cv.paint(body, "body")
    cv.paint(body & (t > 0.82), "body:dark")
    cv.paint(body & (ax >= half - 0.9) & (t > 0.35), "body:dark")
    cv.paint(body & (t < 0.22) & (ax < half * 0.5) & (t > 0.06), "body:light")
    belly = has_belly & body & (((ax / (width * 0.5)) ** 2 + ((t - 0.75) / 0.22) ** 2) < 1)
    cv.paint(belly, "belly")
    # eyes: sclera with a pupil looking inward-down, or one cyclops eye
    eye_y = top + h * eye_t
    ex = np.where(eyes == 0, 2.2, 1.5).astype(np.float32)
    two = (eyes < 2) & (np.abs(ax - ex) < 1.0) & (np.abs(y - eye_y) < 1.0)
    one = (eyes == 2) & (ax < 1.5) & (np.abs(y - eye_y) < 1.5)
    cv.paint(body & (two | one), "sclera")
    pupil2 = two & (ax < ex) & (y >= eye_y)
    pupil1 = one & (ax < 0.5) & (np.abs(y - eye_y) < 0.5)
    cv.paint(body & (pupil1 | pupil2), "pupil")
    mouth_y = top + h * mouth_t
    mouth = body & (ax < mouth_w) & (np.abs(y - mouth_y) < 0.5)
    cv.paint(mouth, "mouth")
    fang = body & fangs & (np.abs(ax - (mouth_w - 0.5)) < 0.5) & (np.abs(y - mouth_y - 1.0) < 0.5)
    cv.paint(fang & (mouth_w > 1.2), "horn")
    cv.outline()


# --------------------------------------------------------------------- food
def _draw_food(cv, rng, k):
    y, x = cv.y, cv.x
    variant = _pick(rng, 3, k)
    dx = _u(rng, -1.0, 1.0, k)
    dy = _u(rng, -0.6, 0.6, k)
    radius = _u(rng, 4.0, 5.3, k)
    squash = _u(rng, 0.85, 1.1, k)
    leaf_side = np.where(rng.random(k) < 0.5, -1.0, 1.0).astype(np.float32)[:, None, None]
    leaf_len = _u(rng, 1.6, 2.8, k)
    stem_tilt = _u(rng, -0.5, 0.5, k)
    wrap_top = _u(rng, 9.0, 10.5, k)
    frost_h = _u(rng, 3.5, 5.0, k)
    sprinkles = rng.random((k, 16, 16)) < 0.12
    scoops = _pick(rng, 2, k) + 1
    scoop_r = _u(rng, 2.8, 3.8, k)
    top_ratio = _u(rng, 0.7, 0.9, k)
    cone_y = _u(rng, 8.6, 10.0, k)
    cone_w = _u(rng, 2.6, 3.6, k)
    drips = rng.random((k, 16)) < 0.3
    drip_len = _u(rng, 0.8, 2.2, k)
    has_cherry = (rng.random(k) < 0.5)[:, None, None]

    cx = 8.0 + dx
    xr = x - cx
    # fruit: round body with a dimple, stem, and a leaf to one side
    fruit_v = variant == 0
    cy = 9.5 + dy
    yr = y - cy
    fr = radius * squash
    fruit = fruit_v & ((xr / fr) ** 2 + (yr / radius) ** 2 < 1)
    fruit = fruit & (~((np.abs(xr) < 0.7) & (yr < -radius + 0.8)))
    fruit_top = cy - radius
    stem = fruit_v & (np.abs(xr - stem_tilt * (fruit_top + 0.5 - y)) < 0.5)
    stem = stem & ((y >= fruit_top - 2.0) & (y < fruit_top + 0.8))
    lx = xr - leaf_side * (leaf_len * 0.5 + 0.4)
    leaf = fruit_v & ((lx / (leaf_len * 0.6)) ** 2 + ((y - fruit_top + 0.9) / 0.8) ** 2 < 1)
    cv.paint(stem, "stem")
    cv.paint(leaf, "leaf")
    cv.paint(leaf & (y > fruit_top - 0.9), "leaf:dark")
    cv.paint(fruit, "fruit")
    lit = ((xr + fr * 0.35) / (fr * 0.3)) ** 2 + ((yr + radius * 0.4) / (radius * 0.25)) ** 2 < 1
    cv.paint(fruit & lit, "fruit:light")
    shade = ((xr + fr * 0.25) / fr) ** 2 + ((yr + radius * 0.25) / radius) ** 2 > 1
    cv.paint(fruit & shade, "fruit:dark")

    # cupcake: striped wrapper, frosting dome, a berry on top, sprinkles
    cup_v = variant == 1
    wrap_bot = np.float32(14.6)
    tw = (y - wrap_top) / (wrap_bot - wrap_top)
    wrap = cup_v & (y >= wrap_top) & (y < wrap_bot) & (np.abs(xr) < 4.6 - 1.0 * tw)
    cv.paint(wrap, "wrapper")
    cv.paint(wrap & ((np.floor(xr + 0.5) % 2) == 0), "wrapper:dark")
    fy = wrap_top + 0.4
    frost = cup_v & ((xr / 5.3) ** 2 + ((y - fy) / frost_h) ** 2 < 1) & (y < fy + 0.6)
    cv.paint(frost, "frosting")
    cv.paint(frost & (y > fy - 1.0), "frosting:dark")
    cv.paint(
        frost & (((xr + 1.5) / 1.8) ** 2 + ((y - fy + frost_h * 0.6) / 0.8) ** 2 < 1),
        "frosting:light",
    )
    cv.paint(frost & cv.design_grid(sprinkles) & (y < fy - 1.2), "topping:light")
    berry_y = fy - frost_h - 0.2
    berry = cup_v & (xr**2 + (y - berry_y) ** 2 < 1.7)
    cv.paint(berry, "topping")
    cv.paint(berry & (xr < -0.2) & (y < berry_y - 0.2), "topping:light")

    # ice cream: waffle cone, one or two scoops (the second of its own flavour),
    # drips down the cone, sometimes a cherry on top
    ice_v = variant == 2
    cone_top = cone_y + dy
    cone = ice_v & (y >= cone_top) & (y < 15.0)
    cone = cone & (np.abs(xr) < cone_w * (15.0 - y) / (15.0 - cone_top))
    cv.paint(cone, "cone")
    waffle = (np.floor(x + y) % 3 == 0) | (np.floor(x - y) % 3 == 0)
    cv.paint(cone & waffle, "cone:dark")
    cols = np.minimum((x * np.float32(16 / _DESIGN)).astype(np.int64), 15)
    drip = cone & drips[np.arange(len(drips))[:, None, None], cols] & (y < cone_top + drip_len)
    cv.paint(drip, "frosting")
    s1 = cone_top - scoop_r * 0.45
    scoop1 = ice_v & (xr**2 + (y - s1) ** 2 < scoop_r**2) & (y < cone_top + 0.7)
    r2 = scoop_r * top_ratio
    s2 = np.maximum(s1 - scoop_r * 0.8 - r2 * 0.45, r2 + 0.9)
    scoop2 = ice_v & (scoops == 2) & (xr**2 + (y - s2) ** 2 < r2**2)
    cv.paint(scoop1, "frosting")
    cv.paint(scoop1 & (y > cone_top - 0.4), "frosting:dark")
    cv.paint(
        scoop1 & ((xr + scoop_r * 0.4) ** 2 + (y - s1 + scoop_r * 0.4) ** 2 < 0.8), "frosting:light"
    )
    cv.paint(scoop2, "scoop")
    cv.paint(scoop2 & (y > s2 + r2 * 0.55), "scoop:dark")
    cv.paint(scoop2 & ((xr + r2 * 0.4) ** 2 + (y - s2 + r2 * 0.4) ** 2 < 0.8), "scoop:light")
    top_y = np.where(scoops == 2, s2 - r2, s1 - scoop_r)
    cherry = ice_v & has_cherry & (xr**2 + (y - top_y) ** 2 < 1.3)
    cv.paint(cherry, "topping")
    cv.outline()


# --------------------------------------------------------------------- item
def _draw_item(cv, rng, k):
    y, x = cv.y, cv.x
    variant = _pick(rng, 3, k)
    dx = _u(rng, -1.0, 1.0, k)
    dy = _u(rng, -0.5, 0.5, k)
    flask = _pick(rng, 3, k)  # 0 round flask, 1 tall bottle, 2 conical flask
    level = _u(rng, 0.25, 0.8, k)
    body_r = _u(rng, 3.4, 4.6, k)
    bottle_w = _u(rng, 2.2, 3.6, k)
    neck_w = _u(rng, 1.0, 1.6, k)
    neck_len = _u(rng, 1.2, 2.6, k)
    bubbles = rng.random((k, 16, 16)) < 0.08
    angle = _u(rng, np.deg2rad(35.0), np.deg2rad(55.0), k)
    blade_len = _u(rng, 8.0, 10.0, k)
    blade_w = _u(rng, 0.8, 1.3, k)
    guard_w = _u(rng, 2.0, 3.0, k)
    shield_w = _u(rng, 4.2, 5.5, k)
    emblem = _pick(rng, 3, k)  # 0 cross, 1 stripe, 2 boss

    cx = 8.0 + dx
    xr = x - cx
    ax = np.abs(xr)

    # potion: cork, neck, glass body (round flask, tall bottle or conical flask),
    # liquid up to a random level with bubbles, a glint on the glass
    pot_v = variant == 0
    body_cy = 10.0 + dy
    body_top = body_cy - body_r
    round_body = (flask == 0) & ((xr / body_r) ** 2 + ((y - body_cy) / body_r) ** 2 < 1)
    tall_body = (flask == 1) & (ax < bottle_w) & (y >= body_top) & (y < body_cy + body_r)
    tall_body = tall_body & (~((ax > bottle_w - 1.0) & (y < body_top + 1.0)))
    cone_t = (y - body_top) / (2 * body_r)
    cone_body = (flask == 2) & (cone_t >= 0) & (cone_t < 1) & (ax < 1.0 + (bottle_w + 0.6) * cone_t)
    glass_body = pot_v & (round_body | tall_body | cone_body)
    neck = pot_v & (ax < neck_w) & (y >= body_top - neck_len) & (y < body_top + 0.5)
    cork = (
        pot_v & (ax < neck_w - 0.3) & (y >= body_top - neck_len - 1.5) & (y < body_top - neck_len)
    )
    cv.paint(cork, "cork")
    cv.paint(neck, "glass")
    cv.paint(glass_body, "glass")
    surface = body_cy + body_r - 2 * body_r * level
    liquid = glass_body & (y >= surface)
    cv.paint(liquid, "liquid")
    cv.paint(liquid & (y < surface + 0.9), "liquid:light")
    cv.paint(liquid & (xr > body_r * 0.45), "liquid:dark")
    cv.paint(liquid & cv.design_grid(bubbles) & (y >= surface + 1.0), "liquid:light")
    glint = glass_body & (np.abs(xr + body_r * 0.45) < 0.5) & (np.abs(y - body_cy + 0.5) < 1.0)
    cv.paint(glint & (y < surface), "glass:light")

    # sword: along a diagonal from bottom-left to top-right
    sw_v = variant == 1
    ca, sa = np.cos(angle), np.sin(angle)
    px, py = x - 3.3 - dx * 0.3, 13.0 + dy - y  # origin near the pommel, y up
    along = px * ca + py * sa
    across = -px * sa + py * ca
    hilt_end = np.float32(2.6)
    grip = sw_v & (along >= 0.0) & (along < hilt_end) & (np.abs(across) < 0.6)
    pommel = sw_v & (along**2 + across**2 < 1.0)
    guard = sw_v & (np.abs(along - hilt_end - 0.3) < 0.6) & (np.abs(across) < guard_w)
    b = along - hilt_end - 0.9
    blade = (
        sw_v
        & (b >= 0)
        & (b < blade_len)
        & (np.abs(across) < blade_w * np.minimum(1.0, (blade_len - b) / 1.5))
    )
    cv.paint(grip, "hilt")
    cv.paint(pommel | guard, "metal")
    cv.paint(guard & (np.abs(across) > guard_w - 0.8), "metal:dark")
    cv.paint(blade, "blade")
    cv.paint(blade & (across > 0.15), "blade:light")
    cv.paint(blade & (across < -blade_w * 0.5), "blade:dark")

    # shield: heater shape (flat top, pointed bottom), metal rim, emblem
    sh_v = variant == 2
    top = 2.5 + dy
    t = (y - top) / 11.5
    half = shield_w * np.where(t < 0.45, 1.0, np.sqrt(np.clip(1 - ((t - 0.45) / 0.55) ** 2, 0, 1)))
    shield = sh_v & (t >= 0) & (t < 1) & (ax < half)
    cv.paint(shield, "metal")
    inner = shield & (ax < half - 0.9) & (t >= 0.09) & (t < 0.93)
    cv.paint(inner, "shield")
    cv.paint(inner & (xr > 0.5) & (t > 0.1), "shield:dark")
    cv.paint(inner & (xr < -half + 2.0) & (t < 0.5), "shield:light")
    cross = inner & (emblem == 0) & ((ax < 0.7) | (np.abs(t - 0.38) < 0.06))
    stripe = inner & (emblem == 1) & (np.abs(xr + (y - top - 5.0) * 0.8) < 1.0)
    boss = inner & (emblem == 2) & (xr**2 + (y - top - 5.0) ** 2 < 2.6)
    cv.paint(cross | stripe | boss, "metal")
    cv.paint(boss & (xr > 0.3), "metal:dark")
    cv.outline()


# -------------------------------------------------------------------- spell
def _draw_spell(cv, rng, k):
    y, x = cv.y, cv.x
    variant = _pick(rng, 3, k)
    dx = _u(rng, -1.0, 1.0, k)
    dy = _u(rng, -1.0, 1.0, k)
    points = np.array([4, 5, 6, 8], dtype=np.float32)[_pick(rng, 4, k)]
    theta = _u(rng, 0.0, 2 * np.pi, k)
    outer = _u(rng, 5.2, 7.0, k)
    inner = outer * _u(rng, 0.3, 0.5, k)
    core_r = _u(rng, 1.2, 2.2, k)
    ring_r = _u(rng, 3.5, 5.0, k)
    twist = (
        _u(rng, 0.7, 1.3, k)
        * np.where(rng.random(k) < 0.5, -1.0, 1.0).astype(np.float32)[:, None, None]
    )
    arms = _pick(rng, 2, k) + 2
    sparkles = rng.random((k, 16, 16)) < 0.12

    xr, yr = x - 8.0 - dx, y - 8.0 - dy
    r = np.sqrt(xr**2 + yr**2)
    phi = np.arctan2(yr, xr)
    # a few loose sparkles in a ring around each spell
    sparkle = cv.design_grid(sparkles)

    # star: spiky polar profile
    spike = np.abs(np.cos(points * (phi - theta) / 2)) ** 3
    star_r = inner + (outer - inner) * spike
    star = (variant == 0) & (r < star_r)
    star_halo = (variant == 0) & (r < star_r + 0.9) & ~star
    star_halo = star_halo | ((variant == 0) & sparkle & (r < outer + 1.5) & ~star)
    # orb: disc, a ring around it, a halo of sparkles
    orb = (variant == 1) & (r < ring_r - 1.0)
    ring = (variant == 1) & (np.abs(r - ring_r - 0.6) < 0.55)
    orb_halo = (variant == 1) & (r < ring_r + 2.6) & (r > ring_r + 1.15) & sparkle
    # spiral: logarithmic-ish arms fading out with radius
    swirl = np.cos(arms * (phi - theta) + twist * r * 1.1)
    spiral = (variant == 2) & (r < outer) & (swirl > 0.35 + r / outer * 0.3)
    spiral_halo = (variant == 2) & (r < outer + 1.0) & sparkle & ~spiral

    cv.paint(star_halo | orb_halo | spiral_halo, "glow:light")
    cv.paint(star | ring | spiral, "glow")
    cv.paint(star & (r > star_r - 1.0), "glow:dark")
    cv.paint(orb, "glow:light")
    cv.paint(orb & (r > ring_r - 2.0), "glow")
    cv.paint(spiral & (r > outer * 0.65), "glow:dark")
    cv.paint((star & (r < star_r * 0.55)) | (spiral & (r < outer * 0.45)), "glow:light")
    cv.paint(r < core_r, "core")


_DRAW = {
    "hero": _draw_hero,
    "creature": _draw_creature,
    "food": _draw_food,
    "item": _draw_item,
    "spell": _draw_spell,
}


def _class_index(name_or_index) -> int:
    if isinstance(name_or_index, (int, np.integer)) and not isinstance(name_or_index, bool):
        if 0 <= name_or_index < len(CLASSES):
            return int(name_or_index)
        raise ParameterError(f"class index must be in [0, {len(CLASSES) - 1}], got {name_or_index}")
    if isinstance(name_or_index, str) and name_or_index in CLASSES:
        return CLASSES.index(name_or_index)
    raise ParameterError(f"unknown sprite class {name_or_index!r}; expected one of {CLASSES}")


def _class_list(classes) -> list[int]:
    if classes is None:
        return list(range(len(CLASSES)))
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    out = sorted({_class_index(c) for c in classes})
    if not out:
        raise ParameterError("classes must name at least one class")
    return out


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
    chosen = _class_list(classes)
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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n must be an integer >= 1, got {n!r}")
    if size not in (16, 32, 48, 64):
        raise ParameterError(f"size must be 16, 32, 48 or 64, got {size!r}")
    rng = np.random.default_rng(seed)
    chosen = _class_list(classes)
    if weights is None:
        labels = np.asarray(chosen, dtype=np.int64)[np.arange(n) % len(chosen)]
        labels = rng.permutation(labels)
    else:
        p = class_probabilities(chosen, weights)
        labels = rng.choice(len(CLASSES), size=n, p=p).astype(np.int64)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for c, name in enumerate(CLASSES):
        where = np.flatnonzero(labels == c)
        if where.size:
            images[where] = _render_class(name, where.size, size, rng)
    return images, labels


def _render_class(name, k, size, rng):
    choice = {role: rng.integers(len(options), size=k) for role, options in _roles(name).items()}
    canvas = _Canvas(name, k, size)
    _DRAW[name](canvas, rng, k)
    palette = np.empty((k, len(_SLOTS[name]) + 1, 3), dtype=np.uint8)
    palette[:, 0] = BACKGROUND
    for i, slot in enumerate(_SLOTS[name]):
        palette[:, i + 1] = _slot_colour(name, slot, choice)
    return palette[np.arange(k)[:, None, None], canvas.index]


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
        roles = _roles(name)
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
    name = CLASSES[_class_index(class_name)]
    return {
        role: {opt: 1.0 / len(options) for opt, _ in options}
        for role, options in class_palettes()[name].items()
    }


def variant_probabilities(class_name) -> dict[str, float]:
    """Exact probability of each shape variant of one class.

    Examples
    --------
    >>> variant_probabilities("item")
    {'potion': 0.3333333333333333, 'sword': 0.3333333333333333, 'shield': 0.3333333333333333}
    """
    variants = _VARIANTS[CLASSES[_class_index(class_name)]]
    return {v: 1.0 / len(variants) for v in variants}


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
    name = CLASSES[_class_index(class_name)]
    roles = _roles(name)
    rows = [np.asarray(BACKGROUND, dtype=np.uint8)] if include_background else []
    for slot in _SLOTS[name]:
        role, _, shade = slot.partition(":")
        rows += [_SHADES[shade or "base"](rgb) for _, rgb in roles[role]]
    return np.unique(np.stack(rows), axis=0)


def snap_to_palette(images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Move every pixel to the nearest colour that its sprite's class can contain.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, 3)`` uint8 sprites, e.g. samples of a model.
    labels : array_like of int
        ``(n,)`` class of each sprite, an index into :data:`CLASSES`.

    Returns
    -------
    snapped : numpy.ndarray
        ``(n, H, W, 3)`` uint8: each pixel replaced by its nearest colour of
        :func:`class_colours` (background included).
    offset : numpy.ndarray
        ``(n, H, W)`` int: the distance moved, the largest channel difference
        ``max_c |x_c - colour_c|`` in levels; 0 where a pixel was exactly on the palette.

    Notes
    -----
    Nearest is in that same Chebyshev distance (``scipy.spatial.cKDTree`` with
    ``p=inf``), so ``offset <= k`` means "within k levels in every channel". Snapping
    keeps each pixel's choice of colour and drops only how precisely it hit it: a
    model's colour histograms after snapping say whether it picks the right colours
    in the right proportions.

    Examples
    --------
    >>> images = np.array([[[[250, 255, 251], [36, 23, 40]]]], dtype=np.uint8)
    >>> snapped, offset = snap_to_palette(images, [0])
    >>> snapped[0, 0].tolist(), offset.tolist()
    ([[255, 255, 255], [34, 24, 40]], [[[5, 2]]])
    """
    from scipy.spatial import cKDTree

    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ParameterError(
            f"images must be uint8 (n, H, W, 3) sprites, got {images.dtype} {images.shape}"
        )
    if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
        raise ParameterError(f"labels must be {len(images)} integers, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ParameterError(f"labels must be in [0, {len(CLASSES) - 1}]")
    snapped = images.copy()
    offset = np.zeros(images.shape[:3], dtype=np.int64)
    for k in np.unique(labels):
        palette = class_colours(int(k))
        pixels = images[labels == k].reshape(-1, 3)
        gap, nearest = cKDTree(palette).query(pixels, p=np.inf)
        snapped[labels == k] = palette[nearest].reshape(-1, *images.shape[1:])
        offset[labels == k] = np.rint(gap).astype(np.int64).reshape(-1, *images.shape[1:3])
    return snapped, offset


def is_mirror_symmetric(class_name) -> bool:
    """Whether every sprite of a class is exactly left-right mirror symmetric.

    True for ``hero`` and ``creature`` (drawn from distances to the vertical
    axis); False means symmetry is not built in (offsets, diagonal swords,
    leaves on one side, rotated stars), although a few sprites may be
    symmetric by chance.

    Examples
    --------
    >>> [is_mirror_symmetric(c) for c in CLASSES]
    [True, True, False, False, False]
    """
    return _SYMMETRIC[CLASSES[_class_index(class_name)]]


def symmetry_score(images, *, tol: float = 0.0) -> np.ndarray:
    """Left-right symmetry of each image: the fraction of pixels equal to their mirror.

    Parameters
    ----------
    images : array_like
        ``(n, H, W, C)`` or ``(n, H, W)`` images (any dtype), or one ``(H, W, C)``
        image with ``C`` in (1, 3, 4).
    tol : float, default 0
        A pixel counts as symmetric when every channel differs from the
        mirrored pixel by at most ``tol`` (in the images' units; use e.g. 16
        for uint8 model samples, whose colours are never exact).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 scores in [0, 1]; 1 means exactly mirror symmetric.

    Notes
    -----
    score = (1 / HW) * sum_{i,j} [ max_c |x[i, j, c] - x[i, W-1-j, c]| <= tol ].
    Background pixels count too, so a random image on a white background scores
    well above 0; compare scores between sets, not against 0.

    Examples
    --------
    >>> images, labels = generate_sprites(50, seed=0)
    >>> scores = symmetry_score(images)
    >>> bool(np.all(scores[labels == 0] == 1.0))
    True
    """
    a = np.asarray(images)
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4):
        a = a[None]
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ParameterError(f"images must be (n, H, W[, C]), got shape {np.asarray(images).shape}")
    if not np.isfinite(tol) or tol < 0:
        raise ParameterError(f"tol must be a finite number >= 0, got {tol}")
    a = a.astype(np.float64)
    diff = np.abs(a - a[:, :, ::-1]).max(axis=-1)
    return (diff <= tol).mean(axis=(1, 2))
