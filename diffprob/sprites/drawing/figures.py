"""Drawing the front-facing figures, heroes and creatures, mirror symmetric by construction.

* ``hero`` -- a humanoid: head, hair or helmet, eyes, tunic, arms, belt, legs, boots.
* ``creature`` -- a monster: slime, ghost, round or tall body with horns, ears or
  antennae, big eyes, mouth, fangs, feet.

Every mask depends on ``x`` only through the distance from the mirror axis, ``cv.ax``,
so each sprite is exactly left-right symmetric.
"""

from __future__ import annotations

import numpy as np

from diffprob.sprites.classes import VARIANTS
from diffprob.sprites.drawing.canvas import pick, uniform

__all__ = ["draw_hero", "draw_creature"]


def draw_hero(cv, rng, k):
    """Paint ``k`` heroes; the variant index follows ``VARIANTS["hero"]``."""
    y, ax = cv.y, cv.ax
    variant = pick(rng, len(VARIANTS["hero"]), k)
    cv.variant = variant[:, 0, 0]
    head_top = uniform(rng, 1.6, 2.4, k)
    ry = uniform(rng, 2.5, 3.1, k)
    rx = uniform(rng, 2.6, 3.4, k)
    hy = head_top + ry
    torso_top = hy + ry * np.float32(0.85)
    torso_h = uniform(rng, 3.2, 4.2, k)
    waist = torso_top + torso_h
    shoulder_w = uniform(rng, 2.6, 3.6, k)
    waist_w = shoulder_w - uniform(rng, 0.0, 0.9, k)
    arm_len = uniform(rng, 2.8, 4.0, k)
    arm_w = uniform(rng, 1.0, 1.5, k)
    leg_gap = uniform(rng, 0.2, 0.9, k)
    leg_w = uniform(rng, 1.3, 2.0, k)
    feet = uniform(rng, 14.0, 15.0, k)
    eye_dx = np.where(rng.random(k) < 0.5, 1.5, 2.0).astype(np.float32)[:, None, None]
    eye_y = hy + uniform(rng, -0.1, 0.8, k)
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


_CREATURE_PROFILES = np.array(
    [
        [0.30, 0.70, 0.90, 1.00, 1.00],  # slime: dome on a flat base
        [0.45, 0.88, 1.00, 0.88, 0.50],  # round
        [0.55, 0.85, 0.90, 0.95, 1.00],  # ghost: widening skirt
        [0.70, 0.78, 0.80, 0.80, 0.70],  # tall
    ],
    dtype=np.float32,
)


def draw_creature(cv, rng, k):
    """Paint ``k`` creatures; the variant index follows ``VARIANTS["creature"]``."""
    y, ax = cv.y, cv.ax
    variant = pick(rng, len(VARIANTS["creature"]), k)
    cv.variant = variant[:, 0, 0]
    top = uniform(rng, 3.6, 5.5, k)
    bottom = uniform(rng, 12.5, 14.5, k)
    width = uniform(rng, 4.6, 6.4, k)
    jitter = rng.uniform(-0.12, 0.12, size=(k, 5)).astype(np.float32)
    profile = _CREATURE_PROFILES[variant[:, 0, 0]] + jitter
    eyes = pick(rng, 3, k)  # 0, 1: two eyes (wide, close); 2: one big eye
    eye_t = uniform(rng, 0.25, 0.42, k)
    mouth_t = uniform(rng, 0.60, 0.75, k)
    mouth_w = uniform(rng, 0.8, 2.6, k)
    fangs = (rng.random(k) < 0.5)[:, None, None]
    extra = pick(rng, 4, k)  # 0 none, 1 horns, 2 ears, 3 antennae
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
