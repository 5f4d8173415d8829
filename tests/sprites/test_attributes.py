"""Sprite attributes: the same sprites as generate_sprites, and attributes the pixels confirm."""

import functools

import numpy as np
import pytest

from diffprob.errors import ParameterError
from diffprob.sprites.attributes import SpriteAttributes, generate_sprites_with_attributes
from diffprob.sprites.captions import main_colour_role
from diffprob.sprites.classes import CLASSES, VARIANTS
from diffprob.sprites.generator import generate_sprites
from diffprob.sprites.palettes import SLOTS, _shade_table, class_palettes, colour_roles


@pytest.fixture(scope="module")
def batch16():
    return generate_sprites_with_attributes(3000, size=16, seed=21)


@pytest.mark.parametrize(
    "n, size, seed, classes, weights",
    [
        (1, 16, 0, None, None),
        (257, 16, 4, None, None),
        (60, 32, 9, None, None),
        (80, 16, 3, ["item", "spell"], None),
        (90, 16, 5, None, [1, 2, 3, 4, 5]),
        (30, 48, 2, ["creature", "food"], [1, 3]),
        (12, 64, 11, "hero", None),
    ],
)
def test_images_and_labels_are_those_of_generate_sprites(n, size, seed, classes, weights):
    images, labels, attrs = generate_sprites_with_attributes(
        n, size=size, seed=seed, classes=classes, weights=weights
    )
    ref_images, ref_labels = generate_sprites(
        n, size=size, seed=seed, classes=classes, weights=weights
    )
    assert images.tobytes() == ref_images.tobytes() and images.dtype == ref_images.dtype
    assert labels.tobytes() == ref_labels.tobytes() and labels.dtype == ref_labels.dtype
    assert [a.class_name for a in attrs] == [CLASSES[i] for i in labels]


def test_a_generator_seed_is_accepted_like_generate_sprites():
    images, labels, _ = generate_sprites_with_attributes(20, seed=np.random.default_rng(3))
    ref = generate_sprites(20, seed=np.random.default_rng(3))
    assert np.array_equal(images, ref[0]) and np.array_equal(labels, ref[1])


def _code(rgb):
    """One int per RGB colour, so that sets of colours are sets of ints."""
    rgb = np.asarray(rgb, dtype=np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


@functools.cache
def _shades(class_name, role, colour):
    """Every RGB shade (as codes) of one named colour of a role, as the class paints it."""
    options = colour_roles(class_name)[role]
    i = [name for name, _ in options].index(colour)
    shades = {s.partition(":")[2] for s in SLOTS[class_name] if s.partition(":")[0] == role}
    return frozenset(int(_code(_shade_table(options, shade)[i])) for shade in shades)


def test_every_colour_named_occurs_in_its_sprite(batch16):
    images, _, attrs = batch16
    codes = _code(images.reshape(len(images), -1, 3))
    for row, a in zip(codes, attrs, strict=True):
        present = set(np.unique(row).tolist())
        for role, colour in a.colours.items():
            assert present & _shades(a.class_name, role, colour), (a, role)


def test_main_colour_is_always_shown_in_its_base_shade(batch16):
    images, _, attrs = batch16
    palettes = class_palettes()
    for image, a in zip(images, attrs, strict=True):
        role = main_colour_role(a.class_name, a.variant)
        rgb = dict(palettes[a.class_name][role])[a.colours[role]]
        assert (image.reshape(-1, 3) == rgb).all(axis=1).any(), a


def test_roles_shown_follow_the_variant(batch16):
    _, _, attrs = batch16
    always = {
        "hero": {"skin", "outfit", "trousers", "trim"},
        "creature": {"body", "sclera", "mouth"},
        "fruit": {"fruit", "leaf", "stem"},
        "cupcake": {"frosting", "wrapper", "topping"},
        "ice cream": {"frosting", "cone"},
        "potion": {"liquid", "glass", "cork"},
        "sword": {"blade", "metal"},  # a steep sword can hide its 1-unit grip at 16x16
        "shield": {"shield", "metal"},
        "spell": {"glow", "core"},
    }
    never = {"helmet": {"hair"}, "short hair": set(), "shield": {"liquid", "blade", "hilt"}}
    for a in attrs:
        key = a.variant if a.variant in always else a.class_name
        assert always[key] <= set(a.colours), a
        assert not never.get(a.variant, set()) & set(a.colours), a
        if a.class_name == "hero":
            assert ("hair" in a.colours) == (a.variant != "helmet"), a
        if a.variant == "ice cream":
            # the second scoop and the cherry on top are each drawn half the time
            assert set(a.colours) <= {"frosting", "cone", "scoop", "topping"}
        assert "outline" not in a.colours


def test_variants_are_uniform_per_class(batch16):
    _, _, attrs = batch16
    for name in CLASSES:
        variants = [a.variant for a in attrs if a.class_name == name]
        counts = np.array([variants.count(v) for v in VARIANTS[name]])
        expected = len(variants) / len(VARIANTS[name])
        # about 600 sprites per class: a count 5 standard deviations off would be a bug
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), (name, counts)


def test_the_same_seed_draws_the_same_attributes_at_every_size():
    _, _, a16 = generate_sprites_with_attributes(200, size=16, seed=8)
    _, _, a32 = generate_sprites_with_attributes(200, size=32, seed=8)
    for x, y in zip(a16, a32, strict=True):
        assert (x.class_name, x.variant) == (y.class_name, y.variant)
        role = main_colour_role(x.class_name, x.variant)
        assert x.colours[role] == y.colours[role]
        # visibility can only grow with resolution (pupils hidden at 16 show at 32)
        assert set(x.colours) <= set(y.colours) and x.colours.items() <= y.colours.items()


def test_sprite_attributes_refuse_unknown_values():
    SpriteAttributes("spell", "orb", {"glow": "ice", "core": "pale yellow"})
    with pytest.raises(ParameterError, match="unknown sprite class 'dragon'"):
        SpriteAttributes("dragon", "orb", {})
    with pytest.raises(ParameterError, match="unknown variant 'orb' of class 'item'"):
        SpriteAttributes("item", "orb", {})
    with pytest.raises(ParameterError, match="unknown colour role 'hair'"):
        SpriteAttributes("item", "potion", {"hair": "red"})
    with pytest.raises(ParameterError, match="unknown liquid colour 'teal'"):
        SpriteAttributes("item", "potion", {"liquid": "teal"})
    with pytest.raises(ParameterError, match="colours must be a dict"):
        SpriteAttributes("item", "potion", [("liquid", "red")])


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 5, "size": 20}, {"n": 5, "classes": []}])
def test_bad_arguments_are_refused_like_generate_sprites(kwargs):
    n = kwargs.pop("n")
    with pytest.raises(ParameterError):
        generate_sprites_with_attributes(n, **kwargs)
