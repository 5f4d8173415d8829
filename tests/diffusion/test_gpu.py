"""The CUDA code paths, against the CPU results they must reproduce.

CI has no GPU, so every test here is skipped there; they run on a machine with one
(``data/checkpoints/gpu_session.sh`` runs them first). Comparisons allow for TF32,
which cuDNN uses for convolutions by default: its 10-bit mantissa moves an 8-bit
sample by a level now and then, never by many.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from diffprob.diffusion.checkpoint import load_model
from diffprob.diffusion.guidance import per_class_context
from diffprob.diffusion.sampling import sample
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.train import train
from diffprob.evaluation.denoising_error import denoising_error
from diffprob.evaluation.evaluate import evaluate
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TINY = {"batch_size": 16, "warmup_steps": 2, "log_every": 5, "checkpoint_every": 0}


@pytest.fixture(scope="module")
def sprites():
    images, labels = generate_sprites(64, seed=0)
    return SimpleNamespace(images=images, labels=labels, class_names=CLASSES, source="sprites-64")


def _levels(images: torch.Tensor) -> np.ndarray:
    return ((images.float().cpu().clamp(-1, 1) + 1) * 127.5).round().numpy()


@pytest.mark.parametrize("precision", ["auto", "fp16", "off"])
def test_training_on_cuda_learns_and_restores_the_math_modes(sprites, precision):
    seen = []

    def callback(row):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    config = TrainConfig(steps=60, mixed_precision=precision, **TINY)
    result = train(
        sprites,
        "tiny",
        config,
        schedule=NoiseSchedule(50),
        device="cuda",
        progress=False,
        callback=callback,
    )
    losses = [row["loss"] for row in result.history]
    assert np.isfinite(losses).all() and np.mean(losses[-3:]) < losses[0]
    assert set(seen) == {(precision != "off",) * 2}
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    weights = result.checkpoint.ema_state or result.checkpoint.state
    assert all(tensor.device.type == "cpu" for tensor in weights.values())


def test_the_shipped_model_samples_the_same_sprites_on_cuda_as_on_the_cpu():
    images = {}
    for device in ("cpu", "cuda"):
        model, schedule, names = load_model(device=device)
        result = sample(
            model,
            schedule,
            20,
            steps=25,
            context=per_class_context(5, 4),
            generator=7,
            progress=False,
            class_names=names,
        )
        assert result.images.device.type == device
        images[device] = _levels(result.images)
    gap = np.abs(images["cpu"] - images["cuda"])
    assert np.mean(gap == 0) > 0.95 and np.percentile(gap, 99.9) <= 3


def test_ddpm_with_a_cuda_generator_is_reproducible():
    model, schedule, _ = load_model(device="cuda")
    runs = [
        sample(
            model,
            schedule,
            4,
            sampler="ddpm",
            context=per_class_context(5, 1)[:4],
            generator=torch.Generator("cuda").manual_seed(3),
            progress=False,
        ).images
        for _ in range(2)
    ]
    assert runs[0].device.type == "cuda" and torch.equal(runs[0], runs[1])


def test_denoising_error_on_cuda_matches_the_cpu(sprites):
    results = {}
    for device in ("cpu", "cuda"):
        model, schedule, _ = load_model(device=device)
        results[device] = denoising_error(
            model, schedule, sprites.images[:32], [1, 20, 200], labels=sprites.labels[:32]
        )
    np.testing.assert_allclose(results["cuda"].rms(), results["cpu"].rms(), rtol=0.03)
    np.testing.assert_allclose(results["cuda"].noise_levels, results["cpu"].noise_levels)


def test_evaluate_on_cuda_matches_the_cpu_report():
    reports = {
        device: evaluate(n=50, seed=1, device=device, kid_subsets=10) for device in ("cpu", "cuda")
    }
    cpu, gpu = (reports[d].overall for d in ("cpu", "cuda"))
    # The baselines' images are drawn on the CPU: their colour metrics are identical, and
    # only their classifier features (computed on the GPU) may move by TF32 rounding.
    for group in ("real", "independent_pixel", "noise"):
        for metric in ("tv", "js_bits", "w1", "joint_tv", "nn_train"):
            assert cpu[group][metric] == gpu[group][metric], (group, metric)
        assert gpu[group]["fd"] == pytest.approx(cpu[group]["fd"], rel=0.02, abs=1e-3)
        assert gpu[group]["accuracy"] == pytest.approx(cpu[group]["accuracy"], abs=0.04)
    assert gpu["model"]["accuracy"] >= 0.9
    assert abs(gpu["model"]["tv"] - cpu["model"]["tv"]) < 0.01
