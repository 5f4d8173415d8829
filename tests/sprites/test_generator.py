"""The embedded sprite generator: determinism, structure and exact ground truth."""

import numpy as np
import pytest
from scipy import ndimage, stats

from diffprob.errors import ParameterError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import (
    class_probabilities,
    generate_sprites,
    variant_probabilities,
)
from diffprob.sprites.ground_truth import (
    is_mirror_symmetric,
    snap_to_palette,
    symmetry_score,
)
from diffprob.sprites.palettes import (
    BACKGROUND,
    class_colours,
    class_palettes,
    palette_probabilities,
)


@pytest.fixture(scope="module")
def batch16():
    return generate_sprites(2500, size=16, seed=11)


def test_classes_are_five_named_kinds():
    assert CLASSES == ("hero", "creature", "food", "item", "spell")


@pytest.mark.parametrize("size", [16, 32])
def test_shapes_dtypes_and_background(size):
    images, labels = generate_sprites(40, size=size, seed=3)
    assert images.shape == (40, size, size, 3) and images.dtype == np.uint8
    assert labels.shape == (40,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < len(CLASSES)
    # the four corners are background in every sprite except the odd spell glow
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.mean(np.all(corners == BACKGROUND, axis=-1)) > 0.95


def test_same_seed_same_arrays_and_generator_accepted():
    a, la = generate_sprites(300, seed=5)
    b, lb = generate_sprites(300, seed=5)
    c, lc = generate_sprites(300, seed=np.random.default_rng(5))
    d, _ = generate_sprites(300, seed=6)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert np.array_equal(a, c) and np.array_equal(la, lc)
    assert not np.array_equal(a, d)


def test_size_32_same_sprites_drawn_at_own_resolution():
    small, l16 = generate_sprites(100, size=16, seed=2)
    big, l32 = generate_sprites(100, size=32, seed=2)
    assert np.array_equal(l16, l32)
    # not a plain 2x upscale: many 2x2 blocks hold more than one colour
    blocks = big.reshape(100, 16, 2, 16, 2, 3)
    mixed = np.any(blocks != blocks[:, :, :1, :, :1], axis=(2, 4, 5))
    assert mixed.mean() > 0.05
    # ... yet a box-filtered 32 is close to the 16 of the same seed
    down = blocks.astype(float).mean(axis=(2, 4))
    assert np.abs(down - small).mean() < 30


def test_labels_balanced_and_subset():
    _, labels = generate_sprites(1003, seed=0)
    counts = np.bincount(labels, minlength=5)
    assert counts.sum() == 1003 and counts.max() - counts.min() <= 1
    _, sub = generate_sprites(60, seed=0, classes=["food", "spell"])
    assert set(sub.tolist()) == {2, 4}
    assert np.bincount(sub, minlength=5)[[2, 4]].tolist() == [30, 30]


def test_weighted_labels_follow_class_probabilities():
    p = class_probabilities(["hero", "item"], weights=[1, 3])
    assert p.tolist() == [0.25, 0.0, 0.0, 0.75, 0.0]
    _, labels = generate_sprites(4000, seed=1, classes=["hero", "item"], weights=[1, 3])
    counts = np.bincount(labels, minlength=5)
    assert counts[[1, 2, 4]].sum() == 0
    assert stats.binomtest(int(counts[0]), 4000, 0.25).pvalue > 1e-3


def test_class_probabilities_default_uniform():
    assert np.allclose(class_probabilities(), 0.2)


def test_twenty_thousand_sprites_essentially_all_distinct():
    images, _ = generate_sprites(20000, seed=0)
    unique = np.unique(images.reshape(len(images), -1), axis=0)
    assert len(unique) / len(images) > 0.99


def test_symmetric_classes_are_exactly_mirror_symmetric(batch16):
    images, labels = batch16
    scores = symmetry_score(images)
    for c, name in enumerate(CLASSES):
        if is_mirror_symmetric(name):
            assert np.all(scores[labels == c] == 1.0), name
        else:
            assert scores[labels == c].mean() < 0.9, name
    assert [is_mirror_symmetric(c) for c in CLASSES] == [True, True, False, False, False]


def test_symmetry_score_known_cases():
    img = np.zeros((1, 2, 4, 3), dtype=np.uint8)
    assert symmetry_score(img).tolist() == [1.0]
    img[0, 0, 0] = 10  # breaks two of the eight pixels (it and its mirror)
    assert symmetry_score(img).tolist() == [0.75]
    assert symmetry_score(img, tol=10).tolist() == [1.0]
    assert symmetry_score(img[0]).shape == (1,)
    with pytest.raises(ParameterError):
        symmetry_score(img, tol=-1)


def test_only_ground_truth_colours_appear(batch16):
    images, labels = batch16
    for c, name in enumerate(CLASSES):
        allowed = {tuple(v) for v in class_colours(name).tolist()}
        seen = {tuple(v) for v in np.unique(images[labels == c].reshape(-1, 3), axis=0).tolist()}
        assert seen <= allowed, name
        assert tuple(BACKGROUND) in allowed


def test_snap_to_palette_keeps_real_sprites_and_finds_the_nearest_colour(batch16):
    images, labels = batch16[0][:200], batch16[1][:200]
    snapped, offset = snap_to_palette(images, labels)
    np.testing.assert_array_equal(snapped, images)
    assert offset.shape == images.shape[:3] and not offset.any()
    # Against brute force on random colours: the smallest Chebyshev distance, and a
    # palette colour that attains it.
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (40, 4, 4, 3), dtype=np.uint8)
    noisy_labels = rng.integers(0, len(CLASSES), 40)
    snapped, offset = snap_to_palette(noisy, noisy_labels)
    for i in range(len(noisy)):
        palette = class_colours(int(noisy_labels[i])).astype(int)
        gaps = np.abs(noisy[i].reshape(-1, 1, 3).astype(int) - palette[None]).max(axis=2)
        np.testing.assert_array_equal(offset[i].ravel(), gaps.min(axis=1))
        chosen = np.abs(snapped[i].reshape(-1, 1, 3).astype(int) - palette[None]).max(axis=2)
        assert (chosen.min(axis=1) == 0).all()  # every snapped pixel is a palette colour
        moved = np.abs(snapped[i].astype(int) - noisy[i].astype(int)).max(axis=2)
        np.testing.assert_array_equal(moved, offset[i])


def test_snap_to_palette_refuses_bad_input():
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ParameterError, match="uint8"):
        snap_to_palette(images.astype(float), [0, 1])
    with pytest.raises(ParameterError, match="2 integers"):
        snap_to_palette(images, [0])
    with pytest.raises(ParameterError, match=r"\[0, 4\]"):
        snap_to_palette(images, [0, 5])


def test_outlined_classes_have_dark_one_pixel_outline(batch16):
    images, labels = batch16
    outline = class_palettes()["hero"]["outline"][0][1]
    for c, name in enumerate(CLASSES[:4]):
        x = images[labels == c]
        # background = white pixels connected to the canvas edge (eyes are white too)
        white = np.all(x == BACKGROUND, axis=-1)
        bg = np.zeros_like(white)
        for i, w in enumerate(white):
            regions, _ = ndimage.label(np.pad(w, 1, constant_values=True))
            bg[i] = (regions == regions[0, 0])[1:-1, 1:-1]
        fg = ~bg
        # a foreground pixel with a 4-neighbour in the background lies on the border
        # (the canvas edge does not count: a few ice-cream cherries touch the top)
        pad = np.pad(bg, ((0, 0), (1, 1), (1, 1)), constant_values=False)
        touches = pad[:, :-2, 1:-1] | pad[:, 2:, 1:-1] | pad[:, 1:-1, :-2] | pad[:, 1:-1, 2:]
        border = x[fg & touches]
        assert np.all(border == outline), name
    spells = images[labels == 4]
    assert not np.any(np.all(spells == outline, axis=-1))


def test_class_colour_statistics_differ(batch16):
    images, labels = batch16
    means = np.stack([images[labels == c].reshape(-1, 3).mean(axis=0) for c in range(5)])
    fg_means = np.stack(
        [
            images[labels == c][~np.all(images[labels == c] == BACKGROUND, axis=-1)].mean(axis=0)
            for c in range(5)
        ]
    )
    for i in range(5):
        for j in range(i + 1, 5):
            assert np.linalg.norm(fg_means[i] - fg_means[j]) > 8, (CLASSES[i], CLASSES[j])
            assert np.linalg.norm(means[i] - means[j]) > 3, (CLASSES[i], CLASSES[j])


@pytest.mark.parametrize(("name", "role"), [("hero", "outfit"), ("spell", "glow")])
def test_palette_probabilities_match_generated_frequencies(name, role):
    """Each option's base colour shows up in a fraction of sprites equal to its probability."""
    images, _ = generate_sprites(1500, seed=4, classes=[name])
    probs = palette_probabilities(name)[role]
    options = dict(class_palettes()[name][role])
    flat = images.reshape(len(images), -1, 3)
    has = np.stack([np.all(flat == options[o], axis=-1).any(axis=1) for o in probs], axis=1)
    assert np.all(has.sum(axis=1) == 1)  # exactly one option per sprite
    observed = has.sum(axis=0)
    expected = np.array(list(probs.values())) * len(images)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_ground_truth_tables_are_probabilities():
    palettes = class_palettes()
    for name in CLASSES:
        for role, probs in palette_probabilities(name).items():
            assert abs(sum(probs.values()) - 1) < 1e-12
            assert list(probs) == [o for o, _ in palettes[name][role]]
        assert abs(sum(variant_probabilities(name).values()) - 1) < 1e-12
    assert palette_probabilities(0) == palette_probabilities("hero")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": 2.5},
        {"n": 5, "size": 20},
        {"n": 5, "classes": ["dragon"]},
        {"n": 5, "classes": [7]},
        {"n": 5, "classes": []},
        {"n": 5, "weights": [1, 2]},
        {"n": 5, "weights": [1, 1, 1, 1, -1]},
    ],
)
def test_bad_arguments_raise_parameter_error(kwargs):
    n = kwargs.pop("n")
    with pytest.raises(ParameterError):
        generate_sprites(n, **kwargs)


def test_frozen_design_is_pinned():
    """The shipped model was trained on these pixels: changing the design must fail here.

    Exact labels; pixel sums with a tiny tolerance, so that a last-ulp difference
    in float32 trigonometry on another CPU cannot fail the test but any change
    to a shape or a palette does.
    """
    images, labels = generate_sprites(200, seed=0)
    assert labels[:20].tolist() == [0, 1, 3, 0, 0, 4, 1, 0, 1, 4, 2, 1, 1, 2, 2, 2, 1, 1, 4, 2]
    assert abs(int(images.astype(np.int64).sum()) - 30383375) < 2000
    big, _ = generate_sprites(200, size=32, seed=0)
    assert abs(int(big.astype(np.int64).sum()) - 128750063) < 8000
