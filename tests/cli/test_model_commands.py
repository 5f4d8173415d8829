"""End-to-end tests of `diffprob forward` and `diffprob sample` (tiny models, CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.models.unet import ContextUnet
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites
from diffprob.stats.io import load_image, save_image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    model = ContextUnet("tiny")
    ckpt = folder / "tiny.pt"
    Checkpoint.from_model(model, NoiseSchedule(20), ema_model=model, class_names=CLASSES).save(ckpt)
    images, _ = generate_sprites(1, seed=2)
    sprite = folder / "sprite.png"
    save_image(sprite, images[0])
    mask = np.zeros((16, 16, 3), np.uint8)
    mask[3:10, 5:12] = 255
    save_image(folder / "mask.png", mask)
    (folder / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    return folder


def run_json(argv, capsys):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- forward -------------------------------------------------------------------------------
def test_forward_end_to_end(inputs, tmp_path, capsys):
    out = tmp_path / "fwd.png"
    summary = run_json(
        [
            "forward",
            str(inputs / "sprite.png"),
            "--t",
            "0,25,100,500",
            "--seed",
            "0",
            "-o",
            str(out),
        ],
        capsys,
    )
    assert Image.open(out).size[0] > 400
    steps = summary["steps"]
    assert [s["t"] for s in steps] == [0, 25, 100, 500]
    assert steps[0]["ks_statistic"] is None
    for s in steps[1:]:
        assert s["ks_pvalue"] > 0.01
        assert abs(s["var"] / s["var_theory"] - 1) < 0.2
    assert steps[-1]["var_theory"] == pytest.approx(1, abs=0.01)


def test_forward_text_output_and_cosine(inputs, tmp_path, capsys):
    out = tmp_path / "f.png"
    args = ["forward", str(inputs / "sprite.png"), "--schedule", "cosine", "--timesteps", "100"]
    assert main(args + ["--t", "0,100", "--seed", "1", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cosine" in text and f"wrote {out}" in text and out.exists()


def test_forward_with_zero_terminal_snr_ends_in_pure_noise(inputs, tmp_path, capsys):
    argv = ["forward", str(inputs / "sprite.png"), "--t", "250,500", "--seed", "0"]
    plain = run_json([*argv, "-o", str(tmp_path / "a.png")], capsys)
    rescaled = run_json([*argv, "--zero-terminal-snr", "-o", str(tmp_path / "b.png")], capsys)
    assert rescaled["schedule"]["zero_terminal_snr"] is True
    last = rescaled["steps"][-1]
    assert last["alpha_bar"] == 0 and last["var_theory"] == 1 and last["mean_theory"] == 0
    assert last["ks_pvalue"] > 0.01  # the pixels at t = T are N(0, 1) whatever the image
    assert plain["steps"][-1]["alpha_bar"] > 0.006  # the course's schedule keeps a trace
    assert rescaled["steps"][0]["alpha_bar"] < plain["steps"][0]["alpha_bar"]


@pytest.mark.parametrize(
    "bad", [["--t", "0,501"], ["--t", "-1"], ["--timesteps", "100", "--t", "200"]]
)
def test_forward_bad_timesteps(inputs, tmp_path, capsys, bad):
    out = tmp_path / "f.png"
    assert main(["forward", str(inputs / "sprite.png"), "-o", str(out), *bad]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "outside [0," in err
    assert not out.exists()


def _subprocess(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "diffprob", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_forward_subprocess_bad_input(inputs, tmp_path):
    proc = _subprocess(
        ["forward", str(inputs / "sprite.png"), "--t", "0,9999", "-o", "x.png"], tmp_path
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


# -- sample --------------------------------------------------------------------------------
def test_sample_end_to_end(inputs, tmp_path, capsys):
    grid, gif, npz = tmp_path / "g.png", tmp_path / "d.gif", tmp_path / "s.npz"
    same_settings = [
        "sample",
        "--ckpt",
        str(inputs / "tiny.pt"),
        "--n",
        "6",
        "--steps",
        "5",
        "--context",
        "0.6*food+0.4*spell",
        "--guidance",
        "2",
        "--seed",
        "3",
    ]
    summary = run_json(
        [
            *same_settings,
            "-o",
            str(grid),
            "--gif",
            str(gif),
            "--npz",
            str(npz),
            "--scale",
            "2",
            "--no-progress",
        ],
        capsys,
    )
    # the default sampler: DPM-Solver++(2M), quadratic spacing
    assert summary["sampler"] == "dpmpp-2m" and summary["spacing"] == "quadratic"
    assert summary["steps"] == 5 and summary["seed"] == 3
    np.testing.assert_allclose(summary["context_weights"], [0, 0, 0.6, 0, 0.4], atol=1e-6)
    # 6 images -> 3 columns x 2 rows of (16*2 + 1) pixels, plus the border
    assert load_image(grid).shape == (2 * 33 + 1, 3 * 33 + 1, 3)
    anim = Image.open(gif)
    assert anim.n_frames == summary["gif_frames"] == 6  # the noise + 5 steps
    with np.load(npz) as data:
        assert data["images"].shape == (6, 16, 16, 3) and data["images"].dtype == np.uint8
        assert data["x"].shape == (6, 3, 16, 16) and np.abs(data["x"]).max() <= 1
        assert list(data["class_names"]) == list(CLASSES)
        assert json.loads(str(data["settings"]))["guidance"] == 2.0
        first = data["images"]
    # same seed, same samples
    run_json(
        [
            *same_settings,
            "-o",
            str(tmp_path / "g2.png"),
            "--npz",
            str(tmp_path / "s2.npz"),
            "--no-progress",
        ],
        capsys,
    )
    with np.load(tmp_path / "s2.npz") as data:
        assert np.array_equal(data["images"], first)


def test_sample_per_class_and_ddpm(inputs, tmp_path, capsys):
    npz = tmp_path / "pc.npz"
    summary = run_json(
        [
            "sample",
            "--ckpt",
            str(inputs / "tiny.pt"),
            "--per-class",
            "2",
            "--sampler",
            "ddpm",
            "--seed",
            "0",
            "-o",
            str(tmp_path / "pc.png"),
            "--npz",
            str(npz),
            "--no-progress",
        ],
        capsys,
    )
    assert summary["n"] == 10 and summary["steps"] == 20 and summary["sampler"] == "ddpm"
    with np.load(npz) as data:
        assert data["context"].argmax(1).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
        images = data["images"]
    # one row per class, named: the grid is the plain grid with a name column on its left
    from diffprob.sprites.grid import label_rows, make_grid
    from diffprob.stats.io import load_image

    expected = label_rows(make_grid(images, 2, scale=4), list(CLASSES), 16 * 4)
    np.testing.assert_array_equal(load_image(tmp_path / "pc.png"), expected)


def test_sample_with_the_dpm_solver_and_quadratic_spacing(inputs, tmp_path, capsys):
    argv = ["sample", "--ckpt", str(inputs / "tiny.pt"), "--n", "4", "--seed", "3"]
    argv += ["--sampler", "dpmpp-2m", "--steps", "4", "--spacing", "quadratic", "--no-progress"]
    summary = run_json(
        [*argv, "-o", str(tmp_path / "a.png"), "--npz", str(tmp_path / "a.npz")], capsys
    )
    assert summary["sampler"] == "dpmpp-2m" and summary["steps"] == 4
    assert summary["spacing"] == "quadratic"
    run_json([*argv, "-o", str(tmp_path / "b.png"), "--npz", str(tmp_path / "b.npz")], capsys)
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert np.array_equal(a["images"], b["images"])  # deterministic given the seed


def test_sample_inpaint_keeps_the_unmasked_pixels(inputs, tmp_path, capsys):
    npz = tmp_path / "inp.npz"
    run_json(
        [
            "sample",
            "--ckpt",
            str(inputs / "tiny.pt"),
            "--inpaint",
            str(inputs / "sprite.png"),
            "--mask",
            str(inputs / "mask.png"),
            "--n",
            "3",
            "--sampler",
            "ddpm",
            "--resample",
            "2",
            "--seed",
            "0",
            "-o",
            str(tmp_path / "inp.png"),
            "--npz",
            str(npz),
            "--no-progress",
        ],
        capsys,
    )
    original = load_image(inputs / "sprite.png")
    keep = load_image(inputs / "mask.png")[..., 0] == 0
    with np.load(npz) as data:
        images = data["images"]
    assert images.shape == (3, 16, 16, 3)
    assert np.array_equal(images[:, keep], np.broadcast_to(original[keep], images[:, keep].shape))
    assert not np.array_equal(
        images[:, ~keep], np.broadcast_to(original[~keep], images[:, ~keep].shape)
    )


@pytest.mark.parametrize(
    "bad,message",
    [
        (["--steps", "0"], "steps"),
        (["--steps", "21"], "steps"),
        (["--sampler", "ddpm", "--steps", "10"], "DDPM"),
        (["--eta", "1.5"], "eta"),
        (["--eta", "-0.1"], "eta"),
        (["--guidance", "-1"], "guidance"),
        (["--context", "dragon"], "hero, creature, food, item, spell"),
        (["--context", "0.5*hero+x*food"], "context"),
        (["--context", "9"], "out of range"),
        (["--ckpt", "MISSING"], "does not exist"),
        (["--ckpt", "CORRUPT"], "checkpoint"),
        (["--gif", "anim.png"], ".gif"),
        (["--inpaint", "SPRITE"], "--mask"),
        (["--per-class", "2", "--context", "hero"], "per-class"),
        (["--sampler", "dpmpp-2m", "--eta", "0.5"], "--eta is a DDIM option"),
        (["--sampler", "ddpm", "--spacing", "quadratic"], "--spacing"),
        (["--inpaint", "SPRITE", "--mask", "SPRITE", "--sampler", "dpmpp-2m"], "--inpaint needs"),
    ],
)
def test_sample_bad_inputs(inputs, tmp_path, capsys, bad, message):
    subs = {
        "MISSING": str(inputs / "missing.pt"),
        "CORRUPT": str(inputs / "corrupt.pt"),
        "SPRITE": str(inputs / "sprite.png"),
    }
    bad = [subs.get(b, b) for b in bad]
    if "--ckpt" not in bad:
        bad = ["--ckpt", str(inputs / "tiny.pt"), *bad]
    out = tmp_path / "out"
    argv = ["sample", *bad, "-o", str(out / "g.png"), "--npz", str(out / "s.npz"), "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_sample_refuses_to_overwrite_the_checkpoint(inputs, capsys):
    before = (inputs / "tiny.pt").read_bytes()
    assert main(["sample", "--ckpt", str(inputs / "tiny.pt"), "-o", str(inputs / "tiny.pt")]) == 1
    assert "input" in capsys.readouterr().err
    assert (inputs / "tiny.pt").read_bytes() == before


def test_sample_without_the_shipped_checkpoint(monkeypatch, tmp_path, capsys):
    import diffprob.diffusion.checkpoint

    monkeypatch.setattr(
        diffprob.diffusion.checkpoint, "default_checkpoint_path", lambda: tmp_path / "no.pt"
    )
    assert main(["sample", "-o", str(tmp_path / "g.png")]) == 1
    assert "--ckpt" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_sample_subprocess_bad_input(inputs, tmp_path):
    bad = _subprocess(
        ["sample", "--ckpt", str(inputs / "tiny.pt"), "--context", "dragon", "-o", "g.png"],
        tmp_path,
    )
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert "unknown context class 'dragon'" in bad.stderr
    assert list(tmp_path.iterdir()) == []
