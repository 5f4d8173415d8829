"""The default recipe of ``diffprob train`` and :func:`~diffprob.diffusion.training.train.train`.

v-prediction on a zero-terminal-SNR schedule (Lin et al. 2024) from the first step. The
course's schedule leaks signal at t = T (ᾱ_T ≈ 4e-5, so a sprite's mean colour survives
the forward process) and sampling then starts from noise the network never saw; rescaled
to ᾱ_T = 0 and predicting the velocity v (which stays learnable where ε-prediction is
undefined at SNR 0), the model learns the whole process in one stage.

Chosen by ``bench/bench_time_to_quality.py`` at equal wall-clock against ε-prediction on
the course's schedule (the first stage of the shipped model); see docs/benchmarks.md.
"""

from __future__ import annotations

__all__ = ["RECIPE_SCHEDULE"]

#: The schedule settings of the recipe (keyword arguments of ``NoiseSchedule``).
RECIPE_SCHEDULE = {"zero_terminal_snr": True, "prediction_type": "v_prediction"}
