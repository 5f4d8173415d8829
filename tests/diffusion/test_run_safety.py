"""A run folder's safety: one run at a time, resuming after a crash, refusing bad
checkpoints and option records, and stopping a diverged run without saving NaN."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch

import diffprob.diffusion.training.train as training
from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.lock import LOCK_FILE, RunLock
from diffprob.diffusion.training.train import train
from diffprob.errors import RunFolderBusyError, TrainingDivergedError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites

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


def _snapshot(folder):
    """Every file of `folder` with its bytes: what "nothing was written" compares."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "weights_only=False" not in err
    return err


# -- one run per folder ---------------------------------------------------------------------
HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from diffprob.diffusion.training.lock import RunLock
    with RunLock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _snapshot(out)
        cmd = [sys.executable, "-m", "diffprob", *CLI_TINY, "--steps", "2", "--out", str(out)]
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {holder.pid}" in lines[0], second.stderr
        assert "in use by another training run" in lines[0]
        assert _snapshot(out) == before  # the busy run's folder is untouched
        # In this process too (the API takes the same lock).
        with pytest.raises(RunFolderBusyError, match=f"pid {holder.pid}"):
            with RunLock(out):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up: the lock file stays behind
        holder.wait(timeout=30)
    # The dead holder's lock file names it, but the kernel released its lock.
    assert (out / LOCK_FILE).read_text() == str(holder.pid)
    with RunLock(out), RunLock(out):  # free again, and re-entrant in one process
        assert (out / LOCK_FILE).read_text() == str(os.getpid())
    assert not (out / LOCK_FILE).exists()


# -- resuming after a crash -----------------------------------------------------------------
def test_a_killed_run_resumes_with_its_options_and_equals_the_full_run(tmp_path, capsys):
    full, cut = tmp_path / "full", tmp_path / "cut"
    options = [*CLI_TINY, "--steps", "6", "--lr", "5e-4", "--checkpoint-every", "2"]
    assert main([*options, "--out", str(full)]) == 0

    seen = []
    real_step = training._optimisation_step

    def crash_in_step_4(job, state, *args):  # a crash that no handler sees (like SIGKILL)
        seen.append(json.loads((cut / "train_args.json").read_text()))
        if state.step == 3:
            raise SystemExit("killed")
        return real_step(job, state, *args)

    training._optimisation_step = crash_in_step_4
    try:
        with pytest.raises(SystemExit):
            main([*options, "--out", str(cut)])
    finally:
        training._optimisation_step = real_step
    # The options were on disk from the first step on, the checkpoint of step 2 survives.
    assert seen[0]["lr"] == 5e-4 and seen[0]["checkpoint_every"] == 2
    assert Checkpoint.load(cut / "last.pt").step == 2
    (cut / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # a write cut short
    capsys.readouterr()

    run_only = ["train", "--out", str(cut), "--resume", "--device", "cpu", "--no-progress"]
    assert main([*run_only, "--threads", "1", "--log-every", "3"]) == 0
    err = capsys.readouterr().err
    assert "resume: --log-every 3 (was 50)" in err  # the one option it changed
    assert not list(cut.glob(".*.tmp"))
    a, b = Checkpoint.load(full / "last.pt"), Checkpoint.load(cut / "last.pt")
    assert b.step == 6 and b.train_config["lr"] == 5e-4
    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)
    assert all(torch.equal(a.ema_state[k], b.ema_state[k]) for k in a.ema_state)


def test_resume_refuses_fewer_steps_than_the_run_has(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*CLI_TINY, "--steps", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert main(["train", "--out", str(out), "--resume", "--steps", "2", "--no-progress"]) == 1
    err = _one_line_error(capsys)
    assert "already has 3 steps, more than the 2 asked for" in err
    assert _snapshot(out) == before


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main([*CLI_TINY, "--steps", "2", "--out", str(out)]) == 0
    return out


def _set_step(ckpt):
    ckpt.step = -5


def _reshape(ckpt):
    key = next(iter(ckpt.model_state))
    ckpt.model_state[key] = torch.zeros(3, 1)


def _extra_key(ckpt):
    ckpt.ema_state["surprise.weight"] = torch.zeros(1)


def _no_optimizer(ckpt):
    ckpt.optimizer_state = None


def _ema_none(ckpt):
    ckpt.ema_state = None


def _ema_list(ckpt):
    ckpt.ema_state = list(ckpt.ema_state.values())


def _moment_shape(ckpt):
    ckpt.optimizer_state["state"][0]["exp_avg"] = torch.zeros(2)


def _nan_weights(ckpt):
    next(iter(ckpt.model_state.values())).fill_(float("nan"))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_set_step, "step is -5, not an integer >= 0"),
        (_reshape, "has shape (3, 1), the network's is ("),
        (_extra_key, "ema_state has 'surprise.weight', which the network does not have"),
        (_no_optimizer, "the checkpoint has no optimizer state"),
        (_ema_none, "ema_state is None, not the network's state_dict"),
        (_ema_list, "ema_state is a list, not the network's state_dict"),
        (_moment_shape, "optimizer_state['state'][0]['exp_avg']"),
        (_nan_weights, "holds non-finite values"),
    ],
)
def test_resume_of_a_malformed_checkpoint_is_one_line_and_writes_nothing(
    finished_run, tmp_path, capsys, corrupt, message
):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    ckpt = Checkpoint.load(out / "last.pt")
    corrupt(ckpt)
    ckpt.save(out / "last.pt")
    before = _snapshot(out)
    assert main(["train", "--out", str(out), "--resume", "--steps", "3", "--no-progress"]) == 1
    err = _one_line_error(capsys)
    assert "cannot resume from" in err and message in err, err
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    "record, message",
    [
        ({"config": ["tiny"]}, 'config (--config) must be a str or null, got ["tiny"]'),
        ({"lr": "fast"}, "lr (--lr) must be a float or null"),
        ({"zero_terminal_snr": 1}, "must be true/false"),
        (["tiny"], "does not hold a JSON object"),
    ],
)
def test_a_malformed_train_args_json_is_one_line(finished_run, tmp_path, capsys, record, message):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    (out / "train_args.json").write_text(json.dumps(record))
    before = _snapshot(out)
    assert main(["train", "--out", str(out), "--resume", "--steps", "3", "--no-progress"]) == 1
    assert message in _one_line_error(capsys)
    assert _snapshot(out) == before


def test_a_checkpoint_with_pickled_objects_is_refused_without_unsafe_advice(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"format": "diffprob-checkpoint", "obj": SimpleNamespace()}, out / "last.pt")
    assert main([*CLI_TINY, "--out", str(out), "--resume", "--steps", "2"]) == 1
    err = _one_line_error(capsys)
    assert "not written by diffprob" in err and "weights_only" not in err


# -- divergence -----------------------------------------------------------------------------
def test_a_diverging_cli_run_exits_1_and_saves_no_nan(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*CLI_TINY, "--steps", "20", "--lr", "1e6", "--checkpoint-every", "1"]
    assert main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("diffprob train: error: training diverged by step"), err
    assert not (out / "model.pt").exists()
    if (out / "last.pt").exists():  # a step before the blow-up may have been finite
        ckpt = Checkpoint.load(out / "last.pt")
        assert all(torch.isfinite(v).all() for v in ckpt.model_state.values())
        assert f"keeps step {ckpt.step}" in err


def test_divergence_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    images, labels = generate_sprites(32, seed=0)
    data = SimpleNamespace(images=images, labels=labels, class_names=CLASSES, source="s")
    real_step = training._optimisation_step

    def nan_from_step_5(job, state, *args):
        loss = real_step(job, state, *args)
        if state.step >= 5:
            loss = loss * float("nan")  # a non-finite loss, weights still finite
        return loss

    monkeypatch.setattr(training, "_optimisation_step", nan_from_step_5)
    config = TrainConfig(steps=20, batch_size=8, warmup_steps=2, log_every=2, checkpoint_every=2)
    with pytest.raises(TrainingDivergedError, match="not finite for 4 steps in a row") as exc:
        train(
            data,
            "tiny",
            config,
            schedule=NoiseSchedule(50),
            out_dir=tmp_path,
            device="cpu",
            progress=False,
        )
    # Steps 5 to 8 were non-finite: found at the log row of step 8 (two at that of step 6,
    # below MAX_NONFINITE_STEPS), before its checkpoint.
    assert training.MAX_NONFINITE_STEPS == 3
    assert "by step 8" in str(exc.value) and "keeps step 6" in str(exc.value)
    assert Checkpoint.load(tmp_path / "last.pt").step == 6
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / LOCK_FILE).exists()
