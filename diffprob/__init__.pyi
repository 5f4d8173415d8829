# The public API of diffprob: the one list of its names, read by IDEs and type checkers
# and loaded lazily by __init__.py (lazy_loader.attach_stub). Grouped by subpackage:
# stats and sprites never import torch; diffusion, evaluation and plot.diffusion do.

from . import (
    cli as cli,
    diffusion as diffusion,
    evaluation as evaluation,
    plot as plot,
    sprites as sprites,
    stable_diffusion as stable_diffusion,
    stats as stats,
)
from .diffusion.checkpoint import (
    Checkpoint as Checkpoint,
    default_checkpoint_path as default_checkpoint_path,
    load_model as load_model,
)
from .diffusion.forward_process import (
    PixelMixture as PixelMixture,
    forward_steps as forward_steps,
)
from .diffusion.guidance import (
    guided_eps as guided_eps,
    parse_context as parse_context,
    per_class_context as per_class_context,
)
from .diffusion.inpainting import (
    inpaint as inpaint,
)
from .diffusion.model_range import (
    from_model_range as from_model_range,
    to_model_range as to_model_range,
)
from .diffusion.models.ddpm_unet import (
    DDPMUnet as DDPMUnet,
)
from .diffusion.models.experts import (
    NoiseLevelExperts as NoiseLevelExperts,
    add_experts as add_experts,
)
from .diffusion.models.unet import (
    ContextUnet as ContextUnet,
    UNetConfig as UNetConfig,
    build_unet as build_unet,
    get_config as get_config,
)
from .diffusion.samplers.config import (
    SamplerConfig as SamplerConfig,
)
from .diffusion.samplers.ddim import (
    DDIMSampler as DDIMSampler,
)
from .diffusion.samplers.ddpm import (
    DDPMSampler as DDPMSampler,
)
from .diffusion.samplers.dpm_solver import (
    DPMSolverSampler as DPMSolverSampler,
)
from .diffusion.samplers.timesteps import (
    ddim_timesteps as ddim_timesteps,
)
from .diffusion.sampling import (
    SampleResult as SampleResult,
    sample as sample,
)
from .diffusion.schedule import (
    NoiseSchedule as NoiseSchedule,
    ScheduleConfig as ScheduleConfig,
)
from .diffusion.training.config import (
    TrainConfig as TrainConfig,
)
from .diffusion.training.ema import (
    EMA as EMA,
)
from .diffusion.training.train import (
    TrainResult as TrainResult,
    train as train,
)
from .errors import (
    CheckpointError as CheckpointError,
    DataError as DataError,
    DiffprobError as DiffprobError,
    ImageReadError as ImageReadError,
    ImageWriteError as ImageWriteError,
    ParameterError as ParameterError,
)
from .evaluation.baselines import (
    IndependentPixelModel as IndependentPixelModel,
    pure_noise as pure_noise,
)
from .evaluation.classifier import (
    SpriteClassifier as SpriteClassifier,
    classifier_accuracy as classifier_accuracy,
    extract_features as extract_features,
    load_classifier as load_classifier,
    predict as predict,
    save_classifier as save_classifier,
)
from .evaluation.classifier_training import (
    train_classifier as train_classifier,
)
from .evaluation.denoising_error import (
    DenoisingError as DenoisingError,
    denoising_error as denoising_error,
)
from .evaluation.diffusion_map import (
    DiffusionMap as DiffusionMap,
)
from .evaluation.divergences import (
    jensen_shannon_divergence as jensen_shannon_divergence,
    joint_histogram_distance as joint_histogram_distance,
    total_variation_distance as total_variation_distance,
    wasserstein1_distance as wasserstein1_distance,
)
from .evaluation.evaluate import (
    evaluate as evaluate,
)
from .evaluation.faithfulness import (
    prompt_faithfulness as prompt_faithfulness,
)
from .evaluation.kernel_mmd import (
    kernel_distance as kernel_distance,
)
from .evaluation.report import (
    EvaluationReport as EvaluationReport,
)
from .evaluation.sample_distances import (
    frechet_distance as frechet_distance,
    nearest_neighbor_distances as nearest_neighbor_distances,
)
from .evaluation.seeds import (
    SeedsReport as SeedsReport,
    evaluate_seeds as evaluate_seeds,
)
from .evaluation.uncertainty import (
    Estimate as Estimate,
    bootstrap_interval as bootstrap_interval,
)
from .plot.animation import (
    save_denoising_gif as save_denoising_gif,
)
from .plot.diffusion import (
    plot_forward_process as plot_forward_process,
    plot_sample_grid as plot_sample_grid,
    plot_snr as plot_snr,
    plot_trajectory as plot_trajectory,
)
from .plot.evaluation import (
    plot_diffusion_embedding as plot_diffusion_embedding,
    plot_eigenvalue_spectrum as plot_eigenvalue_spectrum,
    plot_evaluation_metrics as plot_evaluation_metrics,
)
from .sprites.attributes import (
    SpriteAttributes as SpriteAttributes,
    generate_sprites_with_attributes as generate_sprites_with_attributes,
)
from .sprites.captions import (
    class_prompt as class_prompt,
    parse_caption as parse_caption,
)
from .sprites.classes import (
    CLASSES as CLASSES,
)
from .sprites.dataset import (
    COURSE_CLASSES as COURSE_CLASSES,
    SpriteData as SpriteData,
    load_sprite_data as load_sprite_data,
    split_train_test as split_train_test,
)
from .sprites.generator import (
    class_probabilities as class_probabilities,
    generate_sprites as generate_sprites,
    variant_probabilities as variant_probabilities,
)
from .sprites.grid import (
    class_grid as class_grid,
    make_grid as make_grid,
)
from .sprites.ground_truth import (
    is_mirror_symmetric as is_mirror_symmetric,
    snap_to_palette as snap_to_palette,
    symmetry_score as symmetry_score,
)
from .sprites.palettes import (
    class_colours as class_colours,
    class_palettes as class_palettes,
    palette_probabilities as palette_probabilities,
)
from .stable_diffusion.pipeline import (
    Txt2ImgPipeline as Txt2ImgPipeline,
    txt2img as txt2img,
)
from .stats.distributions import (
    QuantizedNoise as QuantizedNoise,
    gaussian_cdf as gaussian_cdf,
    gaussian_pdf as gaussian_pdf,
    quantized_noise_cdf as quantized_noise_cdf,
    quantized_noise_pmf as quantized_noise_pmf,
)
from .stats.histograms import (
    ChannelHistograms as ChannelHistograms,
    channel_histograms as channel_histograms,
    entropy_bits as entropy_bits,
)
from .stats.io import (
    load_image as load_image,
    load_images as load_images,
    save_image as save_image,
    to_uint8 as to_uint8,
)
from .stats.joint import (
    Chi2Independence as Chi2Independence,
    JointHistogram as JointHistogram,
    joint_histogram as joint_histogram,
)
from .stats.noise import (
    NoisyImage as NoisyImage,
    add_gaussian_noise as add_gaussian_noise,
)
