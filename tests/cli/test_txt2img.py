"""`diffprob txt2img`: outputs all or nothing, one-line errors, the seed reported."""

import json

import numpy as np
import pytest

from diffprob.cli import main
from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline
from diffprob.stats.io import load_image


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    Txt2ImgPipeline.tiny(seed=0).save(path)
    return path


def run(capsys, *argv):
    status = main(["txt2img", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("diffprob txt2img: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_writes_grid_npz_and_gif(ckpt, tmp_path, capsys):
    grid, npz, gif = tmp_path / "g.png", tmp_path / "s.npz", tmp_path / "a.gif"
    status, out, err = run(
        capsys, "a red potion", "--ckpt", ckpt, "--n", 4, "--ncols", 2, "--steps", 3,
        "--seed", 5, "-o", grid, "--npz", npz, "--gif", gif, "--no-progress",
    )  # fmt: skip
    assert status == 0, err
    assert "sampled 4 sprites" in out and "seed 5" in out and "prompt 'a red potion'" in out
    assert load_image(grid).shape == (2 * 65 + 1, 2 * 65 + 1, 3)
    with np.load(npz) as data:
        assert data["images"].shape == (4, 16, 16, 3) and data["images"].dtype == np.uint8
        assert data["latents"].shape == (4, 4, 8, 8)
        assert str(data["prompt"]) == "a red potion" and int(data["seed"]) == 5
        settings = json.loads(str(data["settings"]))
        assert settings["steps"] == 3 and settings["guidance"] == 3.0
        images = data["images"]
    assert gif.stat().st_size > 0
    # The same seed, the same sprites.
    again = tmp_path / "again.npz"
    assert run(capsys, "a red potion", "--ckpt", ckpt, "--n", 4, "--steps", 3, "--seed", 5,
               "-o", tmp_path / "g2.png", "--npz", again, "--no-progress")[0] == 0  # fmt: skip
    with np.load(again) as data:
        assert (data["images"] == images).all()


def test_draws_and_reports_a_seed_and_prints_json(ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(
        capsys, "", "--ckpt", ckpt, "--n", 2, "--steps", 2, "--json", "--no-progress"
    )
    assert status == 0
    summary = json.loads(out)
    assert isinstance(summary["seed"], int) and summary["prompt"] == ""
    assert summary["output"] == "txt2img.png" and (tmp_path / "txt2img.png").is_file()


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["a red potoin"], ["unknown word 'potoin'", "nearest known words: potion"]),
        (["a red potion", "--n", 10**6], ["--n must be at most 10,000"]),
        (["a red potion", "--steps", 51], ["steps must be an integer in [1, 50]"]),
        (["a red potion", "--guidance", -1], ["--guidance must be a finite number >= 0"]),
        (["a red potion", "--sampler", "dpmpp-2m", "--eta", 0.5], ["--eta is a DDIM option"]),
        (["a red potion", "--npz", "x.txt"], ["--npz must name a .npz file"]),
        (["a red potion", "-o", "x.jpg"], ["-o must be a lossless image"]),
        (["a red potion", "--seed", -1], ["--seed must be in [0,"]),
        (
            ["a red potion", "--scale", 10_000, "--n", 100],
            ["the sprite grid", "more than the limit"],
        ),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(
    ckpt, tmp_path, capsys, monkeypatch, argv, needles
):
    monkeypatch.chdir(tmp_path)
    status, out, err = (
        run(capsys, *argv, "--ckpt", ckpt, "--npz", "s.npz")
        if "--npz" not in argv
        else run(capsys, *argv, "--ckpt", ckpt)
    )
    assert status == 1
    one_line_error(err, *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_missing_or_malformed_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "a red potion", "--ckpt", tmp_path / "nope.pt")
    assert status == 1
    one_line_error(err, "nope.pt", "does not exist")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    status, _, err = run(capsys, "a red potion", "--ckpt", tmp_path / "junk.pt")
    assert status == 1
    one_line_error(err, "junk.pt", "not a readable")
    import torch

    torch.save({"format": "something else"}, tmp_path / "other.pt")
    status, _, err = run(capsys, "a red potion", "--ckpt", tmp_path / "other.pt")
    assert status == 1
    one_line_error(err, "other.pt", "is not a diffprob txt2img pipeline")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt", "other.pt"]


@pytest.mark.parametrize("n", ["0", "-3", "two"])
def test_bad_n_is_a_usage_error(ckpt, capsys, n):
    with pytest.raises(SystemExit) as info:
        main(["txt2img", "a red potion", "--ckpt", str(ckpt), "--n", n])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --n: expected an integer" in err and "Traceback" not in err


def test_refuses_to_overwrite_its_checkpoint(ckpt, capsys):
    before = ckpt.read_bytes()
    status, _, err = run(capsys, "a red potion", "--ckpt", ckpt, "--npz", ckpt.with_suffix(".npz"),
                         "-o", ckpt.with_suffix(".png"), "--gif", ckpt)  # fmt: skip
    assert status == 1
    one_line_error(err, "--gif must name a .gif file")
    assert ckpt.read_bytes() == before


def test_a_failing_writer_leaves_no_output(ckpt, tmp_path, capsys, monkeypatch):
    import diffprob.plot.animation as animation

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(animation, "save_denoising_gif", broken)
    status, _, err = run(capsys, "a red potion", "--ckpt", ckpt, "--n", 2, "--steps", 2,
                         "-o", tmp_path / "g.png", "--npz", tmp_path / "s.npz",
                         "--gif", tmp_path / "a.gif", "--no-progress")  # fmt: skip
    assert status == 1
    one_line_error(err, "disk full")
    assert list(tmp_path.iterdir()) == []


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["txt2img", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and 'diffprob txt2img "a red potion"' in text
    assert "data/checkpoints/txt2img.pt" in text
