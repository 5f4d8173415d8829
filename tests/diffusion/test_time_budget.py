"""Training for a wall-clock budget (`--minutes`): the plan, the hard stop, resuming, the CLI.

Budgets are a few seconds; the tolerances allow for a loaded 2-core machine.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch.distributed as dist

import diffprob.diffusion.training.train as training
from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.budget import PROBE_STEPS, SAFETY, TimeBudget
from diffprob.diffusion.training.config import TrainConfig, learning_rate
from diffprob.diffusion.training.train import train
from diffprob.errors import ParameterError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites

MINUTES = 0.05  # 3 s
BUDGET_S = 60 * MINUTES
TOLERANCE_S = 1.5 * BUDGET_S + 2  # loaded CI machines: budget + 50 % + 2 s

CLI_TINY = [
    "train",
    "--config",
    "tiny",
    "--n-data",
    "32",
    "--batch-size",
    "8",
    "--timesteps",
    "50",
    "--device",
    "cpu",
    "--no-progress",
    "--threads",
    "1",
    "--checkpoint-every",
    "0",
]


@pytest.fixture(scope="module")
def sprites():
    images, labels = generate_sprites(32, seed=0)
    return SimpleNamespace(images=images, labels=labels, class_names=CLASSES, source="sprites-32")


def _train(data, out_dir=None, **config):
    settings = {"batch_size": 8, "log_every": 5, "checkpoint_every": 0, **config}
    return train(
        data,
        "tiny",
        TrainConfig(**settings),
        schedule=NoiseSchedule(50),
        out_dir=out_dir,
        device="cpu",
        progress=False,
    )


@pytest.fixture(scope="module")
def warm(sprites, tmp_path_factory):
    """One short run first, so that the budgets below do not time the first imports
    (torch's optimizer and matplotlib take seconds on a loaded machine)."""
    _train(sprites, tmp_path_factory.mktemp("warm"), steps=2, warmup_steps=0)


# -- the plan -------------------------------------------------------------------------------
def test_the_plan_fits_the_time_left_and_shortens_a_long_warmup():
    budget = TimeBudget(minutes=2.0)
    assert not budget.planned and not budget.out_of_time(1e9)
    # The probe ends after PROBE_STEPS steps or 3 % of the budget (3.6 s), not before one.
    assert budget.probe_done(PROBE_STEPS, 0.1) and budget.probe_done(2, 3.6)
    assert not budget.probe_done(5, 1.0) and not budget.probe_done(0, 10.0)

    plan = budget.plan(step=21, seconds_left=100.0, steps_per_second=50.0, probe_steps=20,
                       warmup_steps=200)  # fmt: skip
    assert plan.total_steps == 21 + math.floor(100 * 50 * SAFETY)
    assert plan.warmup_steps == 200  # 200 < a fifth of the run: kept
    short = budget.plan(21, 10.0, 50.0, 20, warmup_steps=200)
    assert short.total_steps == 21 + 485 and short.warmup_steps == 101  # a fifth of 506
    assert "shortened to 101" in short.describe(200)[-1] and len(plan.describe(200)) == 1
    # No time left: nothing more to do. A run past its warm-up keeps it when re-planned.
    assert budget.plan(30, -5.0, 50.0, 20, 200).total_steps == 30
    assert short.plan(400, 100.0, 50.0, 0, 200).warmup_steps == 101
    # The hard stop: when the next step would end after the budget.
    assert not plan.out_of_time(119.9 - 1 / 50) and plan.out_of_time(119.99)
    assert TimeBudget.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    "change, match",
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": "5"}, "not a number|minutes"),
        ({"total_steps": -1}, "total_steps"),
        ({"steps_per_second": float("nan")}, "steps_per_second"),
        ({"extra": 1}, "keys"),
    ],
)
def test_a_malformed_saved_plan_is_refused(change, match):
    saved = {**TimeBudget(1.0, 10, 2, 5.0, 3).to_dict(), **change}
    with pytest.raises(ValueError, match=match):
        TimeBudget.from_dict(saved)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"minutes": 0}, "minutes must be a number > 0"),
        ({"minutes": -1.0}, "minutes"),
        ({"minutes": float("nan")}, "minutes"),
        ({"minutes": float("inf")}, "minutes"),
        ({"minutes": 1e6}, "a week"),
        ({"minutes": True}, "minutes"),
        ({"minutes": 5, "steps": 10}, "minutes or steps/epochs, not both"),
        ({"minutes": 5, "epochs": 1}, "not both"),
    ],
)
def test_bad_minutes(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kwargs)


def test_learning_rate_with_a_shortened_warmup_and_before_the_plan():
    cfg = TrainConfig(lr=1.0, warmup_steps=100, lr_decay="linear", min_lr_ratio=0.0)
    assert learning_rate(4, 50, cfg, warmup_steps=10) == pytest.approx(0.5)
    assert learning_rate(49, 50, cfg, warmup_steps=10) == 0.0
    assert learning_rate(4, None, cfg) == pytest.approx(0.05)  # probing: warm-up as asked
    assert learning_rate(400, None, cfg) == 1.0  # then the peak until the plan is made


# -- runs -----------------------------------------------------------------------------------
def test_a_budgeted_run_ends_within_its_budget_and_records_its_plan(
    sprites, tmp_path, warm, capsys
):
    out = tmp_path / "run"
    start = time.perf_counter()
    result = _train(sprites, out, minutes=MINUTES, warmup_steps=100_000)
    wall = time.perf_counter() - start
    assert wall <= TOLERANCE_S
    ckpt = Checkpoint.load(out / "model.pt")
    plan = ckpt.metadata["time_budget"]
    assert plan["minutes"] == MINUTES and plan["steps_per_second"] > 0
    assert 1 <= plan["probe_steps"] <= PROBE_STEPS
    assert 2 <= ckpt.step <= plan["total_steps"] == ckpt.metadata["total_steps"]
    assert ckpt.metadata["train_seconds"] <= TOLERANCE_S
    assert result.checkpoint.step == ckpt.step
    # The warm-up asked for is far too long: a fifth of the run instead, and said so.
    # (the first plan's fifth: a plan made again later keeps the warm-up it is past)
    assert 1 <= plan["warmup_steps"] < 100_000
    err = capsys.readouterr().err
    assert " steps planned at " in err  # the first plan, said; the saved one may be later
    assert "warm-up: shortened to " in err
    assert json.loads((out / "config.json").read_text())["time_budget"] == plan
    assert ckpt.train_config["minutes"] == MINUTES and ckpt.train_config["steps"] is None


def test_a_run_that_slows_down_plans_again_and_ends_its_decay_in_the_budget(
    sprites, tmp_path, warm, monkeypatch
):
    real_step = training._optimisation_step

    def slow_after_the_plan(job, state, *args):  # the machine got busy
        if job.budget.planned:
            time.sleep(0.2)
        return real_step(job, state, *args)

    monkeypatch.setattr(training, "_optimisation_step", slow_after_the_plan)
    out = tmp_path / "run"
    start = time.perf_counter()
    _train(sprites, out, minutes=MINUTES, warmup_steps=0, lr_decay="linear")
    assert time.perf_counter() - start <= TOLERANCE_S
    ckpt = Checkpoint.load(out / "model.pt")
    plan = ckpt.metadata["time_budget"]
    assert ckpt.metadata["train_seconds"] <= BUDGET_S + 1.0  # one slow step over at most
    # Planned from the fast probe alone, the run would stop at a fraction of its steps
    # with the learning rate far from its floor; planned again, it ends where it planned.
    assert plan["steps_per_second"] < 6  # the rate of the slow steps, not the probe's
    assert ckpt.step >= plan["total_steps"] - 1
    rows = (out / "loss.csv").read_text().splitlines()
    assert rows[-1].startswith(f"{ckpt.step},")  # the last window is logged


def test_a_run_slower_than_its_last_plan_stops_at_the_budget(sprites, tmp_path, warm, monkeypatch):
    real_step = training._optimisation_step
    monkeypatch.setattr(training.budget_loop, "REPLAN_FRACTION", 100.0)  # never plan again

    def slow_after_the_plan(job, state, *args):
        if job.budget.planned:
            time.sleep(0.2)
        return real_step(job, state, *args)

    monkeypatch.setattr(training, "_optimisation_step", slow_after_the_plan)
    messages = []
    monkeypatch.setattr(training, "_say", lambda job, *lines: messages.extend(lines))
    out = tmp_path / "run"
    _train(sprites, out, minutes=MINUTES, warmup_steps=0, lr_decay="linear")
    ckpt = Checkpoint.load(out / "model.pt")
    assert ckpt.step < ckpt.metadata["time_budget"]["total_steps"]
    assert ckpt.metadata["train_seconds"] <= BUDGET_S + 1.0
    assert "reached after step" in messages[-1] and "not decayed" in messages[-1]


def test_cli_interrupted_budget_resumes_with_its_plan_and_ends(tmp_path, warm, monkeypatch, capsys):
    out = tmp_path / "run"
    real_step = training._optimisation_step

    def ctrl_c_after_the_plan(job, state, *args):
        if job.budget.planned and state.step == job.budget.probe_steps + 2:
            os.kill(os.getpid(), signal.SIGINT)  # stops after this step
        return real_step(job, state, *args)

    monkeypatch.setattr(training, "_optimisation_step", ctrl_c_after_the_plan)
    assert main([*CLI_TINY, "--minutes", str(MINUTES), "--out", str(out)]) == 130
    cut = Checkpoint.load(out / "last.pt")
    plan = cut.metadata["time_budget"]
    assert cut.step == plan["probe_steps"] + 3 < plan["total_steps"]
    assert json.loads((out / "train_args.json").read_text())["minutes"] == MINUTES
    monkeypatch.setattr(training, "_optimisation_step", real_step)
    capsys.readouterr()

    resume = ["train", "--out", str(out), "--resume", "--threads", "1", "--no-progress"]
    start = time.perf_counter()
    assert main([*resume, "--json"]) == 0
    assert time.perf_counter() - start <= TOLERANCE_S
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    # it starts from the saved plan (no new probe); later plans follow the measured speed
    saved_plan = f"{plan['total_steps']} steps planned at {plan['steps_per_second']:.3g} steps/s"
    assert saved_plan in captured.err and f"resuming at step {cut.step}" in captured.err
    assert summary["time_budget"]["minutes"] == plan["minutes"]
    assert summary["time_budget"]["probe_steps"] == plan["probe_steps"]
    assert cut.step < summary["step"] <= summary["time_budget"]["total_steps"]
    assert summary["train_seconds"] <= TOLERANCE_S
    assert Checkpoint.load(out / "model.pt").step == summary["step"]


def test_cli_resume_with_a_larger_budget_plans_again_from_the_saved_rate(
    tmp_path, warm, monkeypatch, capsys
):
    out = tmp_path / "run"
    assert main([*CLI_TINY, "--minutes", "0.02", "--out", str(out)]) == 0
    first = Checkpoint.load(out / "model.pt").metadata["time_budget"]
    capsys.readouterr()
    resume = ["train", "--out", str(out), "--resume", "--threads", "1", "--no-progress"]
    assert main([*resume, "--minutes", str(MINUTES), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"--minutes {MINUTES} (was 0.02)" in captured.err and "resuming at step" in captured.err
    again = json.loads(captured.out)["time_budget"]
    assert again["minutes"] == MINUTES and again["probe_steps"] == 0  # no second probe
    # the first plan of the resumed run uses the saved rate (later ones, the measured speed)
    assert f"at {first['steps_per_second']:.3g} steps/s (from the saved rate)" in captured.err
    assert again["total_steps"] > first["total_steps"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--minutes", "1", "--steps", "5"], "--minutes excludes --steps and --epochs"),
        (["--minutes", "1", "--epochs", "2"], "--minutes excludes --steps and --epochs"),
        (["--minutes", "0"], "minutes must be a number > 0"),
        (["--minutes", "-2"], "minutes must be a number > 0"),
        (["--minutes", "nan"], "minutes must be a number > 0"),
    ],
)
def test_cli_bad_minutes_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main([*CLI_TINY, "--out", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_two_gloo_processes_follow_one_plan(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    cmd += ["2", "-m", "diffprob", *CLI_TINY, "--minutes", str(MINUTES), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    # Ranks that planned differently would hang or end with different weights (checked).
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("steps planned at") == 1  # rank 0 speaks for all
    ckpt = Checkpoint.load(out / "model.pt")
    assert ckpt.metadata["world_size"] == 2
    assert ckpt.step <= ckpt.metadata["time_budget"]["total_steps"]
