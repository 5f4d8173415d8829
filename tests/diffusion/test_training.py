"""Training: schedule of the learning rate, EMA, resuming, overfitting, the CLI."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import diffprob.diffusion.training.precision as precision
import diffprob.diffusion.training.train as training
from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.config import TrainConfig, learning_rate
from diffprob.diffusion.training.data import epoch_permutation
from diffprob.diffusion.training.ema import EMA
from diffprob.diffusion.training.train import train
from diffprob.errors import CheckpointError, DataError, ParameterError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites

TINY = {"batch_size": 8, "warmup_steps": 2, "log_every": 5, "checkpoint_every": 0}


@pytest.fixture(scope="module")
def sprites():
    images, labels = generate_sprites(32, seed=0)
    return SimpleNamespace(images=images, labels=labels, class_names=CLASSES, source="sprites-32")


def _train(data, steps=10, schedule=None, **kwargs):
    config = TrainConfig(steps=steps, **{**TINY, **kwargs.pop("config", {})})
    return train(
        data,
        "tiny",
        config,
        schedule=schedule or NoiseSchedule(50),
        device="cpu",
        progress=False,
        **kwargs,
    )


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- pieces ---------------------------------------------------------------------------------
def test_learning_rate_warmup_then_cosine():
    cfg = TrainConfig(lr=2.0, warmup_steps=4, lr_decay="cosine", min_lr_ratio=0.1)
    total = 105
    assert learning_rate(0, total, cfg) == pytest.approx(0.5)
    assert learning_rate(3, total, cfg) == pytest.approx(2.0)
    # Half-way through the decay, cos = 0: the mean of peak and floor.
    assert learning_rate(4 + 50, total, cfg) == pytest.approx((2.0 + 0.2) / 2)
    assert learning_rate(total - 1, total, cfg) == pytest.approx(0.2)
    constant = TrainConfig(lr=1.0, warmup_steps=0, lr_decay="constant")
    assert {learning_rate(s, 50, constant) for s in range(50)} == {1.0}


def test_ema_matches_the_closed_form():
    model = torch.nn.Linear(2, 1)
    torch.nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.9, warmup=False)
    torch.nn.init.ones_(model.weight)
    for step in range(1, 6):
        ema.update(model, step)
    # ema_k = d ema_{k-1} + (1 - d) * 1, ema_0 = 0  =>  ema_k = 1 - d^k
    torch.testing.assert_close(ema.model.weight, torch.full((1, 2), 1 - 0.9**5))
    warm = EMA(model, decay=0.999)
    assert warm.decay_at(1) == pytest.approx(2 / 11) and warm.decay_at(10**6) == 0.999


def test_epoch_permutation_is_a_seeded_permutation():
    p = epoch_permutation(100, seed=3, epoch=2)
    assert sorted(p.tolist()) == list(range(100))
    assert torch.equal(p, epoch_permutation(100, seed=3, epoch=2))
    assert not torch.equal(p, epoch_permutation(100, seed=3, epoch=3))
    assert not torch.equal(p, epoch_permutation(100, seed=4, epoch=2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps"),
        ({"steps": 5, "epochs": 2}, "not both"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"context_dropout": 1.5}, "context_dropout"),
        ({"lr_decay": "step"}, "lr_decay"),
        ({"mixed_precision": "fp8"}, "mixed_precision"),
    ],
)
def test_bad_train_config(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**kwargs)


def test_bad_data_and_devices(sprites):
    with pytest.raises(DataError, match="larger than the data set"):
        _train(sprites, config={"batch_size": 64})
    bad = SimpleNamespace(images=sprites.images.astype(np.float32), labels=sprites.labels)
    with pytest.raises(DataError, match="uint8"):
        _train(bad)
    wrong = SimpleNamespace(images=sprites.images, labels=sprites.labels + 5)
    with pytest.raises(DataError, match="labels must be in"):
        _train(wrong)
    with pytest.raises(ParameterError, match="'fp16' is not supported on cpu"):
        _train(sprites, config={"mixed_precision": "fp16"})
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA"):
            train(sprites, "tiny", TrainConfig(steps=1, **TINY), device="cuda")


# -- the loop -------------------------------------------------------------------------------
def _math_modes():
    b = torch.backends
    return b.cudnn.benchmark, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32


@pytest.mark.parametrize("tf32", [True, False])
def test_cuda_math_modes_set_tf32_as_asked_and_restore_it_even_after_an_error(tf32):
    # The flags are plain globals, settable without a GPU; tests/test_gpu.py trains with them.
    before = _math_modes()
    with pytest.raises(KeyboardInterrupt):
        with precision.cuda_math_modes(torch.device("cuda"), tf32=tf32):
            assert _math_modes() == (True, tf32, tf32)
            raise KeyboardInterrupt
    assert _math_modes() == before
    with precision.cuda_math_modes(torch.device("cpu"), tf32=not before[1]):
        assert _math_modes() == before  # the CPU leaves cuDNN's settings alone


def test_bf16_autocast_on_the_cpu_warns_where_the_cpu_lacks_bf16_units(sprites, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="without AMX or AVX512-BF16"):
        _train(sprites, steps=1, config={"mixed_precision": "bf16"})


def test_bf16_autocast_on_the_cpu_trains_the_ddpm_unet(sprites, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)  # no slow-CPU warning
    config = TrainConfig(steps=6, mixed_precision="bf16", **TINY)
    result = train(
        sprites,
        training.get_config("tiny", architecture="ddpm"),
        config,
        schedule=NoiseSchedule(50),
        device="cpu",
        progress=False,
    )
    assert result.checkpoint.metadata["mixed_precision"] == "bfloat16"
    assert result.checkpoint.model_config["architecture"] == "ddpm"
    # Weights stay float32 (autocast only lowers the matmuls) and moved from their start.
    fresh = training.build_unet(result.checkpoint.unet_config).state_dict()
    state = result.checkpoint.model_state
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert not _same_weights(state, fresh)
    assert np.isfinite([row["loss"] for row in result.history]).all()


def test_seeded_runs_are_identical_and_seeds_differ(sprites):
    a = _train(sprites, steps=4)
    b = _train(sprites, steps=4)
    c = _train(sprites, steps=4, config={"seed": 1})
    assert _same_weights(a.checkpoint.model_state, b.checkpoint.model_state)
    assert not _same_weights(a.checkpoint.model_state, c.checkpoint.model_state)
    assert a.checkpoint.step == 4 and a.checkpoint.epoch == 1  # 32 sprites / 8 = 4 steps/epoch


def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(sprites, tmp_path):
    full = _train(sprites, steps=10, out_dir=tmp_path / "full")

    def interrupt_at_5(row):  # what Ctrl-C does: SIGINT between two steps
        if row["step"] == 5:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        _train(sprites, steps=10, out_dir=tmp_path / "cut", callback=interrupt_at_5)
    assert Checkpoint.load(tmp_path / "cut" / "last.pt").step == 5
    assert not (tmp_path / "cut" / "model.pt").exists()  # written only at the end
    resumed = _train(sprites, steps=10, out_dir=tmp_path / "cut", resume=True)

    a, b = full.checkpoint, resumed.checkpoint
    assert b.step == 10
    assert _same_weights(a.model_state, b.model_state)  # bit for bit on the CPU
    assert _same_weights(a.ema_state, b.ema_state)
    assert _same_weights(a.optimizer_state["state"][0], b.optimizer_state["state"][0])
    csv_full = (tmp_path / "full" / "loss.csv").read_text().splitlines()
    csv_cut = (tmp_path / "cut" / "loss.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in csv_full] == [r.split(",")[:3] for r in csv_cut]


def test_run_folder_contents(sprites, tmp_path):
    result = _train(sprites, steps=6, out_dir=tmp_path, config={"checkpoint_every": 3})
    names = {p.name for p in tmp_path.iterdir()}
    assert {"last.pt", "model.pt", "loss.csv", "loss.png", "config.json"} <= names
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_config"]["name"] == "tiny" and config["n_train"] == 32
    rows = (tmp_path / "loss.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,loss") and [r.split(",")[0] for r in rows[1:]] == [
        "5",
        "6",
    ]
    inference = Checkpoint.load(tmp_path / "model.pt")
    assert inference.optimizer_state is None
    # The loss curve travels with the small inference file.
    assert [row["step"] for row in inference.metadata["loss_history"]] == [5, 6]
    assert _same_weights(inference.ema_state, result.checkpoint.ema_state)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 6


def test_resume_refuses_another_configuration(sprites, tmp_path):
    _train(sprites, steps=3, out_dir=tmp_path)
    with pytest.raises(CheckpointError, match="batch_size=8 in the checkpoint but 16"):
        _train(sprites, steps=6, out_dir=tmp_path, resume=True, config={"batch_size": 16})
    with pytest.raises(CheckpointError, match="num_timesteps=50 in the checkpoint but 60"):
        _train(sprites, steps=6, out_dir=tmp_path, resume=True, schedule=NoiseSchedule(60))
    with pytest.raises(CheckpointError, match="n_feat=8 in the checkpoint"):
        train(
            sprites,
            "small",
            TrainConfig(steps=6, **TINY),
            schedule=NoiseSchedule(50),
            out_dir=tmp_path,
            resume=True,
            device="cpu",
            progress=False,
        )
    other = SimpleNamespace(**{**vars(sprites), "source": "elsewhere"})
    with pytest.raises(CheckpointError, match="data mismatch"):
        _train(other, steps=6, out_dir=tmp_path, resume=True)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        _train(sprites, steps=6, out_dir=tmp_path / "empty", resume=True)


def test_context_dropout_one_never_trains_the_context_weights(sprites):
    # With p = 1 every context is the zero vector, so the first context layer's
    # weights get zero gradient (its bias still learns the null embedding).
    def first_layer(result, key):
        return result.checkpoint.model_state[f"contextembed1.0.{key}"]

    init = _train(sprites, steps=1, config={"lr": 1e-12, "warmup_steps": 0})
    never = _train(sprites, steps=3, config={"context_dropout": 1.0})
    always = _train(sprites, steps=3, config={"context_dropout": 0.0})
    assert torch.equal(first_layer(never, "weight"), first_layer(init, "weight"))
    assert not torch.allclose(first_layer(never, "bias"), first_layer(init, "bias"))
    assert not torch.allclose(first_layer(always, "weight"), first_layer(init, "weight"))


def test_loss_falls_when_overfitting_eight_sprites(sprites):
    few = SimpleNamespace(images=sprites.images[:8], labels=sprites.labels[:8], source="8")
    losses = []
    _train(
        few,
        steps=100,
        schedule=NoiseSchedule(500),
        config={"lr": 3e-3, "warmup_steps": 5, "log_every": 100},
        callback=lambda row: losses.append(row["loss"]),
    )
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.5 * first, (first, last)


def test_v_prediction_regresses_on_the_velocity(sprites):
    # One step at lr ~ 0 measures the loss of the same initial network against each
    # target; with zero terminal SNR the target is v, not the noise.
    losses = {}
    for name, schedule in {
        "eps": NoiseSchedule(50),
        "v": NoiseSchedule(50, zero_terminal_snr=True, prediction_type="v_prediction"),
    }.items():
        rows = []
        _train(
            sprites,
            steps=1,
            schedule=schedule,
            config={"lr": 1e-12, "warmup_steps": 0},
            callback=rows.append,
        )
        losses[name] = rows[0]["loss"]
    # Same step-0 draws (t, noise, batch) and weights: the loss differs only by target.
    assert abs(losses["eps"] - losses["v"]) > 1e-3, losses


def test_init_from_starts_a_new_run_from_trained_weights(sprites, tmp_path):
    base = _train(sprites, steps=4, out_dir=tmp_path / "base")
    v = NoiseSchedule(50, zero_terminal_snr=True, prediction_type="v_prediction")
    tuned = _train(
        sprites,
        steps=1,
        schedule=v,
        config={"lr": 1e-12, "warmup_steps": 0, "ema_decay": 0.5},
        out_dir=tmp_path / "tuned",
        init_from=tmp_path / "base" / "model.pt",
    )
    # Step 1 of a new run, starting from the EMA weights it was given.
    ckpt = tuned.checkpoint
    assert ckpt.step == 1 and ckpt.schedule_config["prediction_type"] == "v_prediction"
    start = base.checkpoint.ema_state
    for key, value in ckpt.model_state.items():
        torch.testing.assert_close(value, start[key], atol=1e-8, rtol=0)
    info = ckpt.metadata["init_from"]
    assert info["step"] == 4 and info["weights"] == "ema" and info["path"].endswith("model.pt")
    # The record survives an interrupted-and-resumed fine-tune.
    again = _train(
        sprites,
        steps=2,
        schedule=v,
        config={"lr": 1e-12, "warmup_steps": 0, "ema_decay": 0.5},
        out_dir=tmp_path / "tuned",
        resume=True,
    )
    assert again.checkpoint.metadata["init_from"] == info
    # A fine-tune of a fine-tune keeps the whole lineage, with each parent's settings.
    assert info["train_config"]["steps"] == 4 and "init_from" not in info
    assert info["train_seconds"] == base.checkpoint.metadata["train_seconds"]
    grandchild = _train(
        sprites,
        steps=1,
        schedule=v,
        config={"lr": 1e-12, "warmup_steps": 0},
        init_from=ckpt,
    )
    lineage = grandchild.checkpoint.metadata["init_from"]
    assert lineage["step"] == 1 and lineage["path"] == ""
    assert lineage["train_config"]["ema_decay"] == 0.5
    assert lineage["init_from"] == info

    with pytest.raises(CheckpointError, match="n_feat=8 in the checkpoint"):
        train(
            sprites,
            "small",
            TrainConfig(steps=1, **TINY),
            schedule=v,
            init_from=tmp_path / "base" / "model.pt",
            device="cpu",
            progress=False,
        )
    with pytest.raises(ParameterError, match="exclude each other"):
        _train(sprites, steps=1, out_dir=tmp_path / "base", resume=True, init_from=ckpt)
    # The same architecture under another config name is accepted (the name is a label).
    renamed = dataclasses.replace(training.get_config("tiny"), name="my-tiny")
    result = train(
        sprites,
        renamed,
        TrainConfig(steps=1, **TINY),
        init_from=tmp_path / "base" / "model.pt",
        device="cpu",
        progress=False,
    )
    assert result.checkpoint.unet_config.name == "my-tiny"


def test_resume_of_a_run_saved_before_the_prediction_type_existed(sprites, tmp_path):
    _train(sprites, steps=2, out_dir=tmp_path)
    old = Checkpoint.load(tmp_path / "last.pt")
    for key in ("zero_terminal_snr", "prediction_type"):
        del old.schedule_config[key]
    old.save(tmp_path / "last.pt")
    assert _train(sprites, steps=3, out_dir=tmp_path, resume=True).checkpoint.step == 3


# -- command line ---------------------------------------------------------------------------
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
    "--warmup-steps",
    "2",
    "--device",
    "cpu",
    "--no-progress",
    "--threads",
    "1",
]


def test_cli_trains_interrupts_and_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    calls = []
    real_permutation = training.epoch_permutation

    def ctrl_c_in_epoch_1(n, seed, epoch):  # Ctrl-C during the first step of epoch 1
        calls.append(epoch)
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_permutation(n, seed, epoch)

    monkeypatch.setattr(training, "epoch_permutation", ctrl_c_in_epoch_1)
    assert main([*CLI_TINY, "--steps", "8", "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert Checkpoint.load(out / "last.pt").step == 5  # the step in flight completes
    monkeypatch.setattr(training, "epoch_permutation", real_permutation)

    assert main([*CLI_TINY, "--steps", "8", "--out", str(out)]) == 1  # would overwrite
    assert "--resume" in capsys.readouterr().err
    assert main([*CLI_TINY, "--steps", "8", "--out", str(out), "--resume", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 8 and summary["model_config"]["n_feat"] == 8
    assert Checkpoint.load(out / "model.pt").step == 8


def test_cli_fine_tunes_to_v_prediction_and_resumes_it(tmp_path, capsys):
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert main([*CLI_TINY, "--steps", "2", "--out", str(base)]) == 0
    v_options = ["--zero-terminal-snr", "--prediction-type", "v_prediction"]
    init = ["--init-from", str(base / "model.pt")]
    assert main([*CLI_TINY, "--steps", "2", *v_options, *init, "--out", str(tuned)]) == 0
    capsys.readouterr()
    ckpt = Checkpoint.load(tuned / "model.pt")
    assert ckpt.schedule_config["zero_terminal_snr"] is True
    assert ckpt.metadata["init_from"]["path"] == str(base / "model.pt")
    assert json.loads((tuned / "train_args.json").read_text())["prediction_type"] == "v_prediction"
    # --resume takes the schedule options from train_args.json and its own last.pt.
    assert main(["train", "--out", str(tuned), "--resume", "--steps", "3", "--no-progress"]) == 0
    resumed = Checkpoint.load(tuned / "model.pt")
    assert resumed.step == 3 and resumed.schedule_config == ckpt.schedule_config


def test_cli_resume_reads_the_options_the_run_was_started_with(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*CLI_TINY, "--steps", "3", "--lr", "5e-4", "--out", str(out)]) == 0
    saved = json.loads((out / "train_args.json").read_text())
    assert saved["config"] == "tiny" and saved["n_data"] == 32 and saved["lr"] == 5e-4
    capsys.readouterr()

    # Only the run folder and the new length: data, model and optimiser come from the run.
    run_only = ["train", "--out", str(out), "--resume", "--device", "cpu", "--threads", "1"]
    assert main([*run_only, "--steps", "5", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 5 and summary["model_config"]["name"] == "tiny"
    assert Checkpoint.load(out / "last.pt").train_config["lr"] == 5e-4

    # An option given explicitly still wins, and a mismatch is refused without
    # rewriting the run's record.
    assert main([*run_only, "--steps", "6", "--lr", "1e-3", "--no-progress"]) == 1
    assert "lr" in capsys.readouterr().err
    assert json.loads((out / "train_args.json").read_text())["lr"] == 5e-4
    assert Checkpoint.load(out / "last.pt").step == 5


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--config", "huge"], "unknown model config"),
        (["--ema-decay", "1.5"], "ema_decay"),
        (["--batch-size", "64"], "larger than the data set"),
        (["--resume"], "nothing to resume"),
        (["--data", "missing_folder_xyz"], ""),
        (["--prediction-type", "epsilon"], "needs prediction_type='v_prediction'"),
        (["--init-from", "missing_ckpt_xyz.pt"], "missing_ckpt_xyz.pt"),
    ],
)
def test_cli_bad_input_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main([*CLI_TINY, "--steps", "2", "--out", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_cli_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "0"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["train", "--steps", "5", "--epochs", "2"])
    capsys.readouterr()


def test_cli_subprocess_end_to_end(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "diffprob", *CLI_TINY, "--steps", "3", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "trained 3 steps" in done.stdout and "Traceback" not in done.stderr
    assert Checkpoint.load(out / "model.pt").step == 3
    bad = subprocess.run(
        [*cmd[:-1], str(tmp_path / "bad"), "--config", "huge"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_cli_prints_a_data_summary_before_training(tmp_path, capsys):
    from PIL import Image

    for name in ("slime", "tree"):
        (tmp_path / "tiles" / name).mkdir(parents=True)
        for i in range(4):
            rgba = np.zeros((32, 32, 4), np.uint8)
            rgba[8:24, 8:24] = [40 * i, 200, 90, 255]  # an opaque square on transparency
            Image.fromarray(rgba, "RGBA").save(tmp_path / "tiles" / name / f"{i}.png")
    argv = ["train", "--data", str(tmp_path / "tiles"), "--config", "tiny", "--steps", "1"]
    assert main([*argv, "--batch-size", "4", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "data: 8 images" in err and "2 classes: slime 4, tree 4" in err
    assert "resized 8 image(s) from 32x32 to 16x16" in err
    assert "8 of 8 image(s) have transparent pixels, composited over white" in err
    assert "training: 1 steps of batch 4 = 0.5 epochs" in err
