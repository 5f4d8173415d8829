"""The shared training loop of the Stable Diffusion parts, on a least-squares task."""

import os
import signal
import time

import numpy as np
import pytest
import torch
from torch import nn

from diffprob.errors import CheckpointError, ParameterError, TrainingDivergedError
from diffprob.stable_diffusion.fit import FitConfig, FitTask, fit
from diffprob.stable_diffusion.parts import load_part

TRUE_W = np.array([2.0, -1.0, 0.5])


class LineTask(FitTask):
    """Fit y = x . TRUE_W with a linear layer: the optimum is known."""

    part = "vae"

    def __init__(self, scale=1.0):
        self.scale = scale

    def build_model(self):
        return nn.Linear(3, 1, bias=False)

    def model_config(self):
        return {"in": 3}

    def batch(self, rng, batch_size):
        x = rng.normal(size=(batch_size, 3))
        return torch.tensor(x, dtype=torch.float32), torch.tensor(x @ TRUE_W, dtype=torch.float32)

    def loss(self, model, batch, generator):
        x, y = batch
        err = model(x).squeeze(1) - y
        return self.scale * (err**2).mean(), {"mae": err.abs().mean()}

    def finish(self, model):
        return {"weights": model.weight.detach().numpy().ravel()}


def test_fit_finds_the_known_optimum_and_writes_a_part(tmp_path):
    config = FitConfig(steps=300, lr=0.05, warmup_steps=10, batch_size=32, log_every=25)
    result = fit(LineTask(), config, out=tmp_path / "run", progress=False)
    np.testing.assert_allclose(result.model.weight.detach().numpy().ravel(), TRUE_W, atol=1e-2)
    assert result.steps == 300 and len(result.history) == 12
    assert result.history[-1]["loss"] < 1e-3 < result.history[0]["loss"]
    model_config, state, metadata = load_part(tmp_path / "run" / "model.pt", "vae")
    assert model_config == {"in": 3} and set(state) == {"weight"}
    np.testing.assert_allclose(metadata["weights"], TRUE_W, atol=1e-2)
    assert (tmp_path / "run" / "loss.csv").read_text().startswith("step,loss,lr,mae")
    with pytest.raises(CheckpointError, match="holds a 'vae' part, not a 'clip'"):
        load_part(tmp_path / "run" / "model.pt", "clip")


class InterruptedLineTask(LineTask):
    """Sends itself Ctrl-C (SIGINT) during step `at`, as a user would."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def loss(self, model, batch, generator):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().loss(model, batch, generator)


def test_ctrl_c_saves_and_resume_gives_the_uninterrupted_run(tmp_path):
    config = FitConfig(steps=40, lr=0.01, warmup_steps=5, batch_size=8, ema_decay=0.9)
    straight = fit(LineTask(), config, progress=False)
    stopped = fit(InterruptedLineTask(at=15), config, out=tmp_path / "run", progress=False)
    assert stopped.interrupted and stopped.steps == 15
    assert not (tmp_path / "run" / "model.pt").exists()
    resumed = fit(LineTask(), config, out=tmp_path / "run", resume=True, progress=False)
    assert not resumed.interrupted and resumed.steps == 40
    assert torch.equal(resumed.model.weight, straight.model.weight)
    assert (tmp_path / "run" / "model.pt").is_file()


def test_same_seed_same_run_and_resume_matches_uninterrupted(tmp_path):
    config = FitConfig(steps=30, lr=0.01, warmup_steps=0, lr_decay="constant", batch_size=8)
    one = fit(LineTask(), config, progress=False).model.weight.detach().clone()
    two = fit(LineTask(), config, progress=False).model.weight.detach().clone()
    assert torch.equal(one, two)
    # With a constant rate the plan does not depend on the length: 10 steps, then 20 more
    # from last.pt, equal 30 straight steps bit for bit.
    fit(
        LineTask(),
        FitConfig(**{**config.to_dict(), "steps": 10}),
        out=tmp_path / "r",
        progress=False,
    )
    resumed = fit(LineTask(), config, out=tmp_path / "r", resume=True, progress=False)
    assert torch.equal(resumed.model.weight.detach(), one)


def test_time_budget_plans_and_stops(tmp_path):
    result = fit(LineTask(), FitConfig(minutes=0.02, batch_size=8), progress=False)
    assert 20 < result.steps and result.seconds <= 0.02 * 60 * 1.05


def test_refusals(tmp_path):
    with pytest.raises(ParameterError, match="steps or minutes"):
        FitConfig(steps=10, minutes=1.0)
    with pytest.raises(ParameterError, match="minutes must be in"):
        FitConfig(minutes=0)
    with pytest.raises(ParameterError, match="unknown FitConfig settings"):
        FitConfig.from_dict({"steps": 3, "momentum": 0.9})
    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(LineTask(), FitConfig(steps=2), out=tmp_path / "none", resume=True, progress=False)
    fit(LineTask(), FitConfig(steps=2, lr=0.01), out=tmp_path / "x", progress=False)
    with pytest.raises(CheckpointError, match="other settings: lr"):
        fit(
            LineTask(), FitConfig(steps=4, lr=0.02), out=tmp_path / "x", resume=True, progress=False
        )
    with pytest.raises(ParameterError, match="past the 1 steps"):
        fit(
            LineTask(), FitConfig(steps=1, lr=0.01), out=tmp_path / "x", resume=True, progress=False
        )


def test_divergence_is_refused():
    with pytest.raises(TrainingDivergedError, match="not finite"):
        fit(LineTask(scale=float("nan")), FitConfig(steps=10), progress=False)


class SlowingLineTask(LineTask):
    """Steps take their own time, then 30 ms more from step 60 on: the machine got busy after the probe."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def loss(self, model, batch, generator):
        self.calls += 1
        time.sleep(0.0 if self.calls < 60 else 0.03)
        return super().loss(model, batch, generator)


def test_a_budget_plans_again_when_the_machine_slows_down():
    config = FitConfig(minutes=0.05, batch_size=4, warmup_steps=0, log_every=1, lr=0.01)
    result = fit(SlowingLineTask(), config, progress=False)
    assert result.seconds <= 3.0 * 1.05
    # Planned from the fast probe alone, the run would stop at a third of its plan with
    # the rate at its peak; planned again, it still ends its decay with the budget.
    assert result.history[-1]["lr"] < 3 * config.min_lr_ratio * config.lr
