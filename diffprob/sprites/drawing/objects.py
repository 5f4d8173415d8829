"""Drawing the objects, food and items, placed with a random offset (not symmetric).

* ``food`` -- a fruit with stem and leaf, a cupcake, or an ice-cream cone.
* ``item`` -- a potion bottle with coloured liquid, a diagonal sword, or a shield.
"""

from __future__ import annotations

import numpy as np

from diffprob.sprites.classes import VARIANTS
from diffprob.sprites.drawing.canvas import DESIGN, pick, uniform

__all__ = ["draw_food", "draw_item"]


def draw_food(cv, rng, k):
    """Paint ``k`` food sprites; the variant index follows ``VARIANTS["food"]``."""
    y, x = cv.y, cv.x
    variant = pick(rng, len(VARIANTS["food"]), k)
    cv.variant = variant[:, 0, 0]
    dx = uniform(rng, -1.0, 1.0, k)
    dy = uniform(rng, -0.6, 0.6, k)
    radius = uniform(rng, 4.0, 5.3, k)
    squash = uniform(rng, 0.85, 1.1, k)
    leaf_side = np.where(rng.random(k) < 0.5, -1.0, 1.0).astype(np.float32)[:, None, None]
    leaf_len = uniform(rng, 1.6, 2.8, k)
    stem_tilt = uniform(rng, -0.5, 0.5, k)
    wrap_top = uniform(rng, 9.0, 10.5, k)
    frost_h = uniform(rng, 3.5, 5.0, k)
    sprinkles = rng.random((k, 16, 16)) < 0.12
    scoops = pick(rng, 2, k) + 1
    scoop_r = uniform(rng, 2.8, 3.8, k)
    top_ratio = uniform(rng, 0.7, 0.9, k)
    cone_y = uniform(rng, 8.6, 10.0, k)
    cone_w = uniform(rng, 2.6, 3.6, k)
    drips = rng.random((k, 16)) < 0.3
    drip_len = uniform(rng, 0.8, 2.2, k)
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
    cols = np.minimum((x * np.float32(16 / DESIGN)).astype(np.int64), 15)
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


def draw_item(cv, rng, k):
    """Paint ``k`` items; the variant index follows ``VARIANTS["item"]``."""
    y, x = cv.y, cv.x
    variant = pick(rng, len(VARIANTS["item"]), k)
    cv.variant = variant[:, 0, 0]
    dx = uniform(rng, -1.0, 1.0, k)
    dy = uniform(rng, -0.5, 0.5, k)
    flask = pick(rng, 3, k)  # 0 round flask, 1 tall bottle, 2 conical flask
    level = uniform(rng, 0.25, 0.8, k)
    body_r = uniform(rng, 3.4, 4.6, k)
    bottle_w = uniform(rng, 2.2, 3.6, k)
    neck_w = uniform(rng, 1.0, 1.6, k)
    neck_len = uniform(rng, 1.2, 2.6, k)
    bubbles = rng.random((k, 16, 16)) < 0.08
    angle = uniform(rng, np.deg2rad(35.0), np.deg2rad(55.0), k)
    blade_len = uniform(rng, 8.0, 10.0, k)
    blade_w = uniform(rng, 0.8, 1.3, k)
    guard_w = uniform(rng, 2.0, 3.0, k)
    shield_w = uniform(rng, 4.2, 5.5, k)
    emblem = pick(rng, 3, k)  # 0 cross, 1 stripe, 2 boss

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
