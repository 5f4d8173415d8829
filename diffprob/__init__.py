"""diffprob: measure the probability behind diffusion models.

Two halves that explain each other:

* image statistics -- Gaussian noise and its distribution, per-channel colour
  PMFs/CDFs, joint and conditional histograms, entropy and mutual information;
* a sprite-scale DDPM -- forward process, context U-Net, DDPM/DDIM sampling with
  classifier-free guidance, and an embedded procedural sprite data set.

Public names are imported lazily (PEP 562) so that ``import diffprob`` and the
statistics commands never pay for importing torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> submodule that defines it. Keep each half in its own block.
_LAZY = {
    # errors
    "DiffprobError": "errors",
    "ParameterError": "errors",
    "ImageReadError": "errors",
    "ImageWriteError": "errors",
    "DataError": "errors",
    "CheckpointError": "errors",
    # --- image statistics ---
    "load_image": "io",
    "load_images": "io",
    "save_image": "io",
    "to_uint8": "io",
    "add_gaussian_noise": "noise",
    "NoisyImage": "noise",
    "gaussian_pdf": "distributions",
    "gaussian_cdf": "distributions",
    "quantized_noise_pmf": "distributions",
    "quantized_noise_cdf": "distributions",
    "QuantizedNoise": "distributions",
    "channel_histograms": "histograms",
    "ChannelHistograms": "histograms",
    "entropy_bits": "histograms",
    "joint_histogram": "joint",
    "JointHistogram": "joint",
    "Chi2Independence": "joint",
    # --- sprites and data ---
    "CLASSES": "sprites",
    "generate_sprites": "sprites",
    "class_probabilities": "sprites",
    "class_palettes": "sprites",
    "palette_probabilities": "sprites",
    "variant_probabilities": "sprites",
    "class_colours": "sprites",
    "snap_to_palette": "sprites",
    "is_mirror_symmetric": "sprites",
    "symmetry_score": "sprites",
    "SpriteData": "data",
    "load_sprite_data": "data",
    "split_train_test": "data",
    "to_model_range": "data",
    "from_model_range": "data",
    "COURSE_CLASSES": "data",
    "make_grid": "grid",
    "class_grid": "grid",
    # --- diffusion model ---
    "NoiseSchedule": "schedule",
    "ScheduleConfig": "schedule",
    "UNetConfig": "unet",
    "ContextUnet": "unet",
    "DDPMUnet": "ddpm_unet",
    "build_unet": "unet",
    "get_config": "unet",
    "Checkpoint": "checkpoint",
    "load_model": "checkpoint",
    "default_checkpoint_path": "checkpoint",
    "NoiseLevelExperts": "experts",
    "add_experts": "experts",
    "TrainConfig": "training",
    "TrainResult": "training",
    "train": "training",
    "EMA": "ema",
    "sample": "sampling",
    "inpaint": "sampling",
    "guided_eps": "sampling",
    "parse_context": "sampling",
    "per_class_context": "sampling",
    "SampleResult": "sampling",
    "DDPMSampler": "sampling",
    "DDIMSampler": "sampling",
    "DPMSolverSampler": "sampling",
    "forward_steps": "forward_process",
    "PixelMixture": "forward_process",
    "save_denoising_gif": "animation",
    "plot_forward_process": "plot_diffusion",
    "plot_snr": "plot_diffusion",
    "plot_sample_grid": "plot_diffusion",
    "plot_trajectory": "plot_diffusion",
    # --- evaluation ---
    "total_variation_distance": "metrics",
    "jensen_shannon_divergence": "metrics",
    "wasserstein1_distance": "metrics",
    "joint_histogram_distance": "metrics",
    "frechet_distance": "metrics",
    "kernel_distance": "metrics",
    "nearest_neighbor_distances": "metrics",
    "IndependentPixelModel": "baselines",
    "pure_noise": "baselines",
    "SpriteClassifier": "classifier",
    "train_classifier": "classifier",
    "extract_features": "classifier",
    "predict": "classifier",
    "classifier_accuracy": "classifier",
    "save_classifier": "classifier",
    "load_classifier": "classifier",
    "evaluate": "evaluation",
    "EvaluationReport": "evaluation",
    "denoising_error": "denoising",
    "DenoisingError": "denoising",
    "DiffusionMap": "diffusion_map",
    "plot_eigenvalue_spectrum": "plot_eval",
    "plot_diffusion_embedding": "plot_eval",
    "plot_evaluation_metrics": "plot_eval",
}

_SUBMODULES = {"plot", "cli"}

__all__ = sorted(_LAZY) + sorted(_SUBMODULES)


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
