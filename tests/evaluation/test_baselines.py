"""Baselines: the independent-pixel model keeps marginals and breaks joint structure."""

import numpy as np
import pytest
from scipy import stats

from diffprob import channel_histograms
from diffprob.errors import DataError, ParameterError
from diffprob.evaluation.baselines import IndependentPixelModel, pure_noise
from diffprob.evaluation.divergences import total_variation_distance
from diffprob.sprites.generator import generate_sprites
from diffprob.sprites.ground_truth import symmetry_score


@pytest.fixture(scope="module")
def sprites():
    return generate_sprites(300, seed=3)


def test_marginals_are_the_training_frequencies():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 4, (30, 2, 3, 3), dtype=np.uint8)
    model = IndependentPixelModel(train)
    p = model.marginals()
    assert p.shape == (2, 3, 3, 256)
    np.testing.assert_allclose(p.sum(-1), 1)
    for i, j, c in [(0, 0, 0), (1, 2, 2), (0, 1, 1)]:
        expected = np.bincount(train[:, i, j, c], minlength=256) / 30
        np.testing.assert_array_equal(p[i, j, c], expected)


def test_samples_match_every_pixel_marginal(sprites):
    images, labels = sprites
    model = IndependentPixelModel(images, labels)
    fake = model.sample(labels=np.full(4000, 2), rng=1)  # class "food"
    target = model.marginals(2)
    # Chi-square goodness of fit of each position/channel's empirical marginal;
    # with 768 tests, p-values must look uniform (none absurdly small).
    h, w, c = images.shape[1:]
    pvalues = []
    for i in range(h):
        for j in range(w):
            for k in range(c):
                probs = target[i, j, k]
                support = probs > 0
                observed = np.bincount(fake[:, i, j, k], minlength=256)
                assert observed[~support].sum() == 0  # never a value unseen in training
                if support.sum() > 1:
                    expected = probs[support] * len(fake)
                    pvalues.append(stats.chisquare(observed[support], expected).pvalue)
    pvalues = np.array(pvalues)
    assert len(pvalues) > 100
    assert pvalues.min() > 1e-6
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-3


def test_pooled_colour_pmf_matches_training_in_expectation(sprites):
    images, labels = sprites
    fake = IndependentPixelModel(images, labels).sample(labels=labels, rng=2)
    tv = total_variation_distance(channel_histograms(fake), channel_histograms(images))
    # Same expected PMF: TV is sampling noise only (76,800 pixels per channel).
    assert np.all(tv < 0.02)


def test_it_breaks_symmetry_and_neighbour_correlation():
    heroes, _ = generate_sprites(1000, seed=4, classes=["hero"])  # exactly mirror symmetric
    fake = IndependentPixelModel(heroes).sample(len(heroes), rng=3)
    assert symmetry_score(heroes).mean() == pytest.approx(1.0)
    assert symmetry_score(fake).mean() < 0.7

    def deviations(x):
        # Subtract each position's mean so that only the joint structure is left.
        x = x.astype(float)
        return x - x.mean(axis=0)

    def corr(a, b):
        return np.corrcoef(a.ravel(), b.ravel())[0, 1]

    real_dev, fake_dev = deviations(heroes), deviations(fake)
    # Horizontal neighbours (G channel), and R with G in the same pixel.
    assert corr(real_dev[:, :, :-1, 1], real_dev[:, :, 1:, 1]) > 0.1
    assert abs(corr(fake_dev[:, :, :-1, 1], fake_dev[:, :, 1:, 1])) < 0.02
    assert corr(real_dev[..., 0], real_dev[..., 1]) > 0.5
    assert abs(corr(fake_dev[..., 0], fake_dev[..., 1])) < 0.02


def test_channels_are_independent_within_a_pixel():
    train = np.zeros((2, 1, 1, 3), np.uint8)
    train[1] = 255
    fake = IndependentPixelModel(train).sample(20000, rng=4)
    r, g = fake[:, 0, 0, 0] > 0, fake[:, 0, 0, 1] > 0
    assert r.mean() == pytest.approx(0.5, abs=0.02)
    assert (r == g).mean() == pytest.approx(0.5, abs=0.02)  # training: always equal


def test_per_class_sampling_uses_only_that_class():
    train = np.zeros((4, 2, 2, 3), np.uint8)
    train[2:] = 200
    model = IndependentPixelModel(train, labels=[0, 0, 1, 1])
    assert np.all(model.sample(10, labels=0, rng=0) == 0)
    assert np.all(model.sample(labels=[1, 1, 1], rng=0) == 200)
    pooled = model.sample(500, rng=0)
    assert set(np.unique(pooled)) == {0, 200}


def test_seeded_sampling_is_reproducible(sprites):
    images, labels = sprites
    model = IndependentPixelModel(images, labels)
    np.testing.assert_array_equal(
        model.sample(labels=labels[:20], rng=5), model.sample(labels=labels[:20], rng=5)
    )


def test_bad_inputs():
    with pytest.raises(DataError):
        IndependentPixelModel(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(DataError):
        IndependentPixelModel(np.zeros((2, 4, 4, 3), np.uint8), labels=[0])
    model = IndependentPixelModel(np.zeros((2, 4, 4, 3), np.uint8), labels=[0, 1])
    with pytest.raises(ParameterError):
        model.sample(labels=[3])
    with pytest.raises(ParameterError):
        model.sample()
    with pytest.raises(ParameterError):
        IndependentPixelModel(np.zeros((2, 4, 4, 3), np.uint8)).sample(labels=[0])


def test_pure_noise_is_clipped_standard_normal_on_8_bits():
    noise = pure_noise(2000, 16, rng=0)
    assert noise.shape == (2000, 16, 16, 3) and noise.dtype == np.uint8
    x = noise.astype(float) / 127.5 - 1.0
    inside = x[(noise > 0) & (noise < 255)]
    clipped = 2 * stats.norm.sf(1 + 1 / 255)  # P(|z| rounds past +-1)
    assert np.mean((noise == 0) | (noise == 255)) == pytest.approx(clipped, abs=0.01)
    assert abs(inside.mean()) < 0.01
    np.testing.assert_array_equal(pure_noise(3, rng=1), pure_noise(3, rng=1))
