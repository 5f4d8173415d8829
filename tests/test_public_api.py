"""The public API: every name that ``import diffprob`` offers keeps working from the same
place, the static list (``__init__.pyi``) and the lazy loader agree, and the statistics
half never imports torch."""

import subprocess
import sys

import pytest

import diffprob

# Frozen: the names that users and notebooks import from ``diffprob``. Adding a name is
# fine; removing or moving one breaks them.
PUBLIC_NAMES = [
    "CLASSES",
    "COURSE_CLASSES",
    "ChannelHistograms",
    "Checkpoint",
    "CheckpointError",
    "Chi2Independence",
    "ContextUnet",
    "DDIMSampler",
    "DDPMSampler",
    "DDPMUnet",
    "DPMSolverSampler",
    "DataError",
    "DenoisingError",
    "DiffprobError",
    "DiffusionMap",
    "EMA",
    "EvaluationReport",
    "ImageReadError",
    "ImageWriteError",
    "IndependentPixelModel",
    "JointHistogram",
    "NoiseLevelExperts",
    "NoiseSchedule",
    "NoisyImage",
    "ParameterError",
    "PixelMixture",
    "QuantizedNoise",
    "SampleResult",
    "ScheduleConfig",
    "SpriteClassifier",
    "SpriteData",
    "TrainConfig",
    "TrainResult",
    "UNetConfig",
    "add_experts",
    "add_gaussian_noise",
    "build_unet",
    "channel_histograms",
    "class_colours",
    "class_grid",
    "class_palettes",
    "class_probabilities",
    "classifier_accuracy",
    "cli",
    "default_checkpoint_path",
    "denoising_error",
    "entropy_bits",
    "evaluate",
    "extract_features",
    "forward_steps",
    "frechet_distance",
    "from_model_range",
    "gaussian_cdf",
    "gaussian_pdf",
    "generate_sprites",
    "get_config",
    "guided_eps",
    "inpaint",
    "is_mirror_symmetric",
    "jensen_shannon_divergence",
    "joint_histogram",
    "joint_histogram_distance",
    "kernel_distance",
    "load_classifier",
    "load_image",
    "load_images",
    "load_model",
    "load_sprite_data",
    "make_grid",
    "nearest_neighbor_distances",
    "palette_probabilities",
    "parse_context",
    "per_class_context",
    "plot",
    "plot_diffusion_embedding",
    "plot_eigenvalue_spectrum",
    "plot_evaluation_metrics",
    "plot_forward_process",
    "plot_sample_grid",
    "plot_snr",
    "plot_trajectory",
    "predict",
    "pure_noise",
    "quantized_noise_cdf",
    "quantized_noise_pmf",
    "sample",
    "save_classifier",
    "save_denoising_gif",
    "save_image",
    "snap_to_palette",
    "split_train_test",
    "symmetry_score",
    "to_model_range",
    "to_uint8",
    "total_variation_distance",
    "train",
    "train_classifier",
    "variant_probabilities",
    "wasserstein1_distance",
    # Stable Diffusion in miniature
    "SpriteAttributes",
    "Txt2ImgPipeline",
    "class_prompt",
    "generate_sprites_with_attributes",
    "parse_caption",
    "prompt_faithfulness",
    "txt2img",
]

# Frozen likewise: ``diffprob.plot.<name>``.
PLOT_NAMES = [
    "plot_channel_histograms",
    "plot_channel_pmfs_compare",
    "plot_conditionals",
    "plot_joint_histogram",
    "plot_noise_distribution",
    "plot_noisy_pair",
    "save_figure",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name_resolves(name):
    assert name in diffprob.__all__
    assert getattr(diffprob, name) is not None


def test_all_names_resolve_and_dir_lists_them():
    for name in diffprob.__all__:
        getattr(diffprob, name)
    assert set(diffprob.__all__) <= set(dir(diffprob))


def test_unknown_name_is_attribute_error():
    with pytest.raises(AttributeError):
        diffprob.no_such_name  # noqa: B018


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_plot_functions_stay_in_diffprob_plot(name):
    import diffprob.plot

    assert callable(getattr(diffprob.plot, name))


def test_public_objects_live_in_the_module_the_stub_names():
    # __init__.pyi is the one list; a name re-exported from another module would make
    # IDEs point at the wrong file.
    for name in diffprob.__all__:
        obj = getattr(diffprob, name)
        module = getattr(obj, "__module__", None)
        if module is not None and isinstance(
            obj, type | type(test_unknown_name_is_attribute_error)
        ):
            assert module.startswith("diffprob."), (name, module)


STATS_WITHOUT_TORCH = """
import sys
import numpy as np
import diffprob
from diffprob.plot import plot_channel_histograms, plot_joint_histogram
image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
h = diffprob.channel_histograms(image, space="hsv")
j = diffprob.joint_histogram(image, bins=16)
diffprob.add_gaussian_noise(image, 0, 0.01, rng=0)
diffprob.quantized_noise_pmf(128, 0, 0.01)
plot_channel_histograms(h); plot_joint_histogram(j)
import diffprob.stats.io, diffprob.stats.colorspaces, diffprob.stats.example_image
from diffprob.sprites.captions import captions_for
from diffprob.sprites.attributes import generate_sprites_with_attributes
captions_for(generate_sprites_with_attributes(5, seed=0)[2], seed=0)
assert "torch" not in sys.modules, "the statistics half imported torch"
"""


def test_statistics_half_never_imports_torch():
    result = subprocess.run(
        [sys.executable, "-c", STATS_WITHOUT_TORCH], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_statistics_commands_never_import_torch(tmp_path):
    code = (
        "import sys, numpy as np, cv2\n"
        "from diffprob.cli import main\n"
        f"cv2.imwrite({str(tmp_path / 'a.png')!r}, np.full((8, 8, 3), 90, np.uint8))\n"
        f"assert main(['hist', {str(tmp_path / 'a.png')!r}, '--json']) == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
