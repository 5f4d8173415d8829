"""Drawing spells: a radial glow (star burst, orb with a ring, or spiral) with loose sparkles.

Spells have no outline: they glow from a pale core to darker edges instead.
"""

from __future__ import annotations

import numpy as np

from diffprob.sprites.classes import VARIANTS
from diffprob.sprites.drawing.canvas import pick, uniform

__all__ = ["draw_spell"]


def draw_spell(cv, rng, k):
    """Paint ``k`` spells; the variant index follows ``VARIANTS["spell"]``."""
    y, x = cv.y, cv.x
    variant = pick(rng, len(VARIANTS["spell"]), k)
    cv.variant = variant[:, 0, 0]
    dx = uniform(rng, -1.0, 1.0, k)
    dy = uniform(rng, -1.0, 1.0, k)
    points = np.array([4, 5, 6, 8], dtype=np.float32)[pick(rng, 4, k)]
    theta = uniform(rng, 0.0, 2 * np.pi, k)
    outer = uniform(rng, 5.2, 7.0, k)
    inner = outer * uniform(rng, 0.3, 0.5, k)
    core_r = uniform(rng, 1.2, 2.2, k)
    ring_r = uniform(rng, 3.5, 5.0, k)
    twist = (
        uniform(rng, 0.7, 1.3, k)
        * np.where(rng.random(k) < 0.5, -1.0, 1.0).astype(np.float32)[:, None, None]
    )
    arms = pick(rng, 2, k) + 2
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
