"""DistributedDataParallel under torchrun: 2 CPU processes with the gloo backend."""

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")

# The course's objective. Under the recipe's (v-prediction, zero terminal SNR) the two runs
# agree within 3e-6 after one step, but after six 77 of the 24,299 weights differ by more than
# 1e-4 (the losses by 1e-5): where a gradient is near zero (|g| <~ 1e-6) Adam's
# g / (sqrt(v) + eps) is steep and turns summation-order noise into different steps, which
# the later steps carry on. A sparse, bounded difference, not a different objective; the
# recipe's targets leave more gradients near zero than epsilon's, hence this objective here.
ARGS = [
    "train",
    "--prediction-type",
    "epsilon",
    "--no-zero-terminal-snr",
    "--config",
    "tiny",
    "--n-data",
    "32",
    "--batch-size",
    "8",
    "--timesteps",
    "50",
    "--warmup-steps",
    "2",
    "--steps",
    "6",
    "--device",
    "cpu",
    "--no-progress",
    "--threads",
    "1",
    "--checkpoint-every",
    "3",
    "--log-every",
    "3",
]


def test_two_gloo_processes_match_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "diffprob",
        *ARGS,
        "--out",
        str(tmp_path / "ddp"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    # A non-zero exit would include "DDP replicas ended with different weights": every
    # rank checks at the end that the weights of all ranks are identical.
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 6 steps") == 1  # only rank 0 reports and writes

    assert main([*ARGS, "--out", str(tmp_path / "single")]) == 0  # conftest resets --threads

    ddp = Checkpoint.load(tmp_path / "ddp" / "last.pt")
    single = Checkpoint.load(tmp_path / "single" / "last.pt")
    assert ddp.metadata["world_size"] == 2 and single.metadata["world_size"] == 1
    assert ddp.step == single.step == 6
    # Each rank takes a strided half of the same global batch (same indices, t and
    # noise), so 2 processes take the steps of 1 process up to summation order. (Conv
    # biases just before a GroupNorm have ~zero gradient, which Adam's g / sqrt(v)
    # blows up to a full-size step of either sign: those may differ by ~lr, the
    # weights and the function may not.)
    for key, value in single.model_state.items():
        if key.endswith(".weight"):
            torch.testing.assert_close(ddp.model_state[key], value, rtol=1e-4, atol=1e-5, msg=key)
    torch.manual_seed(0)
    x, t, c = torch.randn(4, 3, 16, 16), torch.rand(4), torch.eye(5)[:4]
    with torch.no_grad():
        torch.testing.assert_close(
            ddp.build_model(ema=False)(x, t, c),
            single.build_model(ema=False)(x, t, c),
            rtol=1e-3,
            atol=1e-4,
        )
    ddp_losses = (tmp_path / "ddp" / "loss.csv").read_text().splitlines()[1:]
    single_losses = (tmp_path / "single" / "loss.csv").read_text().splitlines()[1:]
    assert len(ddp_losses) == 2
    for a, b in zip(ddp_losses, single_losses, strict=True):
        assert float(a.split(",")[2]) == pytest.approx(float(b.split(",")[2]), rel=1e-4)
