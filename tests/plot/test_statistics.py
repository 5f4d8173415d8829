"""diffprob.plot.statistics: Figures (no pyplot state), the data they draw, titles with parameters."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from diffprob import plot
from diffprob.errors import ImageWriteError, ParameterError
from diffprob.stats.distributions import quantized_noise_pmf
from diffprob.stats.example_image import make_sample_image
from diffprob.stats.histograms import channel_histograms
from diffprob.stats.io import to_uint8
from diffprob.stats.joint import joint_histogram
from diffprob.stats.noise import add_gaussian_noise

IMAGE = make_sample_image(48, 64, seed=3)


def test_noise_distribution_draws_model_and_measurement():
    noisy = to_uint8(add_gaussian_noise(IMAGE, 0.02, 0.005, rng=0).image)
    fig = plot.plot_noise_distribution(IMAGE, 0.02, 0.005, noisy=noisy)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "mean=0.02" in fig._suptitle.get_text() and "var=0.005" in fig._suptitle.get_text()
    ax_pmf, ax_cdf = fig.axes
    measured = [p for p in ax_pmf.patches if p.get_label() == "measured"][0]
    heights, edges = measured.get_data()[:2]
    steps = noisy.astype(int) - IMAGE
    freq = np.bincount(steps.ravel() + 255, minlength=511) / steps.size
    centres = np.rint((edges[:-1] + edges[1:]) / 2 * 255).astype(int)
    assert np.allclose(heights, freq[centres + 255])
    assert heights.sum() > 0.95
    model = [line for line in ax_pmf.lines if line.get_label() == "8-bit PMF"][0]
    q = quantized_noise_pmf(IMAGE, 0.02, 0.005)
    assert np.allclose(model.get_ydata(), q.pmf[np.isin(q.values, model.get_xdata())])
    texts = " ".join(t.get_text() for t in ax_pmf.texts)
    # theory and measurement are labelled apart, each with its own number
    assert f"theory: clipping moves {q.clipped_low:.2%} to 0" in texts
    assert f"measured: {np.mean(noisy == 0):.2%} of values are 0" in texts


def test_noise_distribution_marks_clipped_spike_for_dark_pixel():
    fig = plot.plot_noise_distribution(5, 0.0, 0.01)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    q = quantized_noise_pmf(5, 0.0, 0.01)
    assert f"{q.pmf[250]:.3f}" in texts and "pixel 5" in fig._suptitle.get_text()


def test_noise_distribution_overlays_many_draws_of_one_pixel():
    clean = 250  # near 255, so the clipped pile at 255 is in the picture
    noisy = to_uint8(
        add_gaussian_noise(np.full((100, 200), clean, np.uint8), 0.0, 0.001, rng=0).image
    )
    fig = plot.plot_noise_distribution(clean, 0.0, 0.001, noisy=noisy)
    measured = [p for p in fig.axes[0].patches if p.get_label() == "measured"][0]
    heights, edges = measured.get_data()[:2]
    centres = np.rint((edges[:-1] + edges[1:]) / 2 * 255).astype(int)
    q = quantized_noise_pmf(clean, 0.0, 0.001)
    # 20,000 draws: every measured frequency within 5 binomial standard errors of the PMF
    expected = q.pmf[centres + 255]
    assert np.all(np.abs(heights - expected) <= 5 * np.sqrt(expected / 20_000) + 1e-12)
    pile = heights[centres == 255 - clean][0]  # every draw clipped to 255
    assert q.pmf[255 + 255 - clean] > 0.2 and pile == pytest.approx(
        q.pmf[255 + 255 - clean], abs=0.02
    )


def test_noise_distribution_shape_mismatch():
    with pytest.raises(ParameterError):
        plot.plot_noise_distribution(IMAGE, noisy=IMAGE[:5])


def test_noisy_pair_and_channel_histograms():
    fig = plot.plot_noisy_pair(IMAGE, IMAGE, mean=0, var=0.01)
    assert "var=0.01" in fig.axes[1].get_title()
    h = channel_histograms(IMAGE, bins=32)
    fig = plot.plot_channel_histograms(h, log=True)
    ax_pmf, ax_cdf = fig.axes
    assert [p.get_label().split()[0] for p in ax_pmf.patches] == ["R", "G", "B"]
    assert np.allclose(ax_pmf.patches[1].get_data()[0], h.pmf[1])
    assert ax_pmf.patches[0].get_edgecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-2)
    assert "32 bins" in fig._suptitle.get_text()


def test_compare_pmfs_one_panel_per_channel():
    a = channel_histograms(IMAGE, bins=16, space="hsv")
    b = channel_histograms(IMAGE[::2], bins=16, space="hsv")
    fig = plot.plot_channel_pmfs_compare({"full": a, "half": b}, cdf=True)
    assert [ax.get_title() for ax in fig.axes] == ["H", "S", "V"]
    assert len(fig.axes[0].patches) == 2
    with pytest.raises(ParameterError):
        plot.plot_channel_pmfs_compare({"a": a, "b": channel_histograms(IMAGE, bins=8)})
    with pytest.raises(ParameterError):
        plot.plot_channel_pmfs_compare({})


@pytest.mark.parametrize("log", [True, False])
def test_joint_heatmap(log):
    j = joint_histogram(IMAGE, "R", "G", bins=32)
    fig = plot.plot_joint_histogram(j, log=log)
    heat = fig.axes[0].images[0].get_array()
    assert heat.shape == (32, 32)
    expected = np.where(j.pmf.T > 0, j.pmf.T, np.nan) if log else j.pmf.T
    assert np.allclose(np.ma.filled(heat, np.nan), expected, equal_nan=True)
    assert ("log" if log else "linear") in fig._suptitle.get_text()


def test_conditionals_skip_empty_values():
    image = np.zeros((8, 8, 3), np.uint8)
    image[:4, :, 0] = 100
    j = joint_histogram(image, "R", "G", bins=256)
    fig = plot.plot_conditionals(j, [0, 100, 200])
    labels = [p.get_label() for p in fig.axes[0].patches]
    assert (
        labels[:2] == ["R = 0", "R = 100"]
        and "200" in fig.axes[0].get_legend().get_title().get_text()
    )
    with pytest.raises(ParameterError):
        plot.plot_conditionals(j, [300])


def test_save_figure(tmp_path):
    fig = plot.plot_noisy_pair(IMAGE, IMAGE)
    plot.save_figure(fig, tmp_path / "pair.png")
    assert (tmp_path / "pair.png").stat().st_size > 1000
    with pytest.raises(ImageWriteError):
        plot.save_figure(fig, tmp_path / "missing_dir" / "pair.png")
    with pytest.raises(ImageWriteError):
        plot.save_figure(fig, tmp_path / "pair.notaformat")


def test_no_pyplot_state():
    import sys

    plot.plot_noisy_pair(IMAGE, IMAGE)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []
