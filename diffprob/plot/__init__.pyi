from .animation import (
    denoising_frames as denoising_frames,
    save_denoising_gif as save_denoising_gif,
)
from .diffusion import (
    plot_forward_process as plot_forward_process,
    plot_sample_grid as plot_sample_grid,
    plot_snr as plot_snr,
    plot_trajectory as plot_trajectory,
)
from .evaluation import (
    plot_diffusion_embedding as plot_diffusion_embedding,
    plot_eigenvalue_spectrum as plot_eigenvalue_spectrum,
    plot_evaluation_metrics as plot_evaluation_metrics,
)
from .statistics import (
    plot_channel_histograms as plot_channel_histograms,
    plot_channel_pmfs_compare as plot_channel_pmfs_compare,
    plot_conditionals as plot_conditionals,
    plot_joint_histogram as plot_joint_histogram,
    plot_noise_distribution as plot_noise_distribution,
    plot_noisy_pair as plot_noisy_pair,
    save_figure as save_figure,
)
