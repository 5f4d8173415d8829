"""Numeric precision of a training run: autocast dtype, gradient scaler, TF32 and cuDNN.

CPU runs stay in float32 unless bf16 is asked for explicitly, so that they are
bit-exact across resumes; CUDA runs use bf16 (or fp16 with a gradient scaler) and
TF32 matrix products unless ``mixed_precision="off"``.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import torch

from diffprob.diffusion.training.config import TrainConfig
from diffprob.errors import ParameterError

__all__ = ["autocast_settings", "autocast", "cuda_math_modes", "cpu_has_fast_bf16"]


def cpu_has_fast_bf16() -> bool:
    """False where /proc/cpuinfo lists neither AMX-BF16 nor AVX512-BF16; True if unknown."""
    # torch has no public query for these instructions, and only Linux says; elsewhere
    # assume the user knows their machine rather than warn on a guess.
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    return "amx_bf16" in cpuinfo or "avx512_bf16" in cpuinfo


def autocast_settings(config: TrainConfig, device: torch.device):
    """(autocast dtype or None, use a GradScaler)."""
    mode = config.mixed_precision
    if device.type == "cpu" and mode == "bf16":
        # Opt-in only: about 2x faster where the CPU has AMX or AVX512-BF16 (measured
        # on a Sapphire Rapids core), much slower where it has neither; and "auto" must
        # keep CPU runs bit-exact across resumes.
        if not cpu_has_fast_bf16():
            warnings.warn(
                "bf16 autocast on a CPU without AMX or AVX512-BF16 is much slower than "
                "float32 (13x measured on an AVX2 core); consider mixed_precision='off'",
                RuntimeWarning,
                stacklevel=3,
            )
        return torch.bfloat16, False
    if device.type != "cuda":
        if mode in ("bf16", "fp16"):
            raise ParameterError(f"mixed precision {mode!r} is not supported on {device.type}")
        return None, False
    if mode == "off":
        return None, False
    if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, False
    return torch.float16, True


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The autocast context of a forward pass (a no-op context for float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@contextlib.contextmanager
def cuda_math_modes(device: torch.device, tf32: bool):
    """cuDNN autotuning, and TF32 unless full float32 was asked for, restored on exit.

    TF32 keeps 10 mantissa bits (relative error ~1e-3), about the size of the t = 1
    noise next to the image, so ``mixed_precision="off"`` turns it off too.
    """
    if device.type != "cuda":
        yield
        return
    backends = torch.backends
    saved = (backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32)
    backends.cudnn.benchmark = True
    backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        backends.cudnn.benchmark, backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = saved
