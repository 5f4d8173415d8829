"""`diffprob train-vae`, `train-clip` and `train-txt2img` on tiny networks, and their refusals."""

import json

import pytest

from diffprob.cli import main
from diffprob.stable_diffusion.parts import load_part
from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline

QUIET = ["--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A tiny trained autoencoder and CLIP pair (a few steps each)."""
    root = tmp_path_factory.mktemp("parts")
    vae_argv = ["train-vae", "--steps", "3", "--channels", "8", "--batch-size", "8"]
    assert main([*vae_argv, *QUIET, "--out", str(root / "vae")]) == 0
    clip_argv = ["train-clip", "--steps", "3", "--width", "16", "--batch-size", "8"]
    assert main([*clip_argv, *QUIET, "--out", str(root / "clip")]) == 0
    return root


def test_the_parts_are_written_with_what_they_measured(parts):
    _, _, vae_meta = load_part(parts / "vae" / "model.pt", "vae")
    assert vae_meta["steps"] == 3 and vae_meta["latent_scale_factor"] > 0
    clip_config, _, clip_meta = load_part(parts / "clip" / "model.pt", "clip")
    assert clip_config["text"]["width"] == 16
    assert 0 <= clip_meta["zero_shot_class_accuracy"] <= 1


def test_txt2img_trains_into_a_pipeline_that_samples(parts, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train-txt2img", "--vae", str(parts / "vae" / "model.pt")]
    argv += ["--clip", str(parts / "clip" / "model.pt"), "--config", "tiny", "--steps", "2"]
    assert main([*argv, "--batch-size", "4", *QUIET, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    _, _, vae_meta = load_part(parts / "vae" / "model.pt", "vae")
    assert summary["steps"] == 2 and summary["latent_scaling"] == vae_meta["latent_scaling"]
    pipeline = Txt2ImgPipeline.load(out / "txt2img.pt")
    assert pipeline.latent_scaling.to_dict() == vae_meta["latent_scaling"]
    assert pipeline.unet.config.name == "tiny"
    assert (
        main(
            [
                "txt2img",
                "a red potion",
                "--ckpt",
                str(out / "txt2img.pt"),
                "--n",
                "2",
                "--steps",
                "2",
                "--seed",
                "0",
                "--npz",
                str(tmp_path / "s.npz"),
                "-o",
                str(tmp_path / "grid.png"),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train-vae", "--minutes", "0"], "minutes must be in"),
        (["train-vae", "--kl-weight", "-1"], "kl_weight"),
        (["train-clip", "--lr", "0"], "lr must be in"),
        (["train-txt2img", "--vae", "missing.pt", "--clip", "missing.pt"], "no such file"),
        (["train-vae", "--resume"], "nothing to resume"),
        (["train-txt2img", "--clip", "missing.pt"], "--vae is required"),
        (["train-txt2img", "--vae", "missing.pt", "--resume"], "--clip is required"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main([*argv, *QUIET, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_an_existing_run_needs_resume(parts, capsys):
    argv = ["train-vae", "--steps", "3", "--channels", "8", "--batch-size", "8", *QUIET]
    assert main([*argv, "--out", str(parts / "vae")]) == 1
    assert "pass --resume" in capsys.readouterr().err
    assert main([*argv, "--out", str(parts / "vae"), "--resume", "--steps", "4"]) == 0
    assert load_part(parts / "vae" / "model.pt", "vae")[2]["steps"] == 4


def test_resume_alone_continues_with_the_saved_options(parts, tmp_path, capsys):
    out = tmp_path / "txt2img"
    argv = ["train-txt2img", "--vae", str(parts / "vae" / "model.pt")]
    argv += ["--clip", str(parts / "clip" / "model.pt"), "--config", "tiny", "--steps", "2"]
    assert main([*argv, "--batch-size", "4", "--guidance", "1.5", *QUIET, "--out", str(out)]) == 0
    saved = json.loads((out / "train_args.json").read_text())
    assert saved["config"] == "tiny" and saved["batch_size"] == 4 and saved["steps"] == 2
    capsys.readouterr()
    # Neither the parts nor the network nor the batch size again: all from train_args.json.
    assert main(["train-txt2img", "--resume", "--steps", "3", *QUIET, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "resume: --steps 3 (was 2)" in err, err
    pipeline = Txt2ImgPipeline.load(out / "txt2img.pt")
    assert pipeline.unet.config.name == "tiny" and pipeline.guidance == 1.5
    assert pipeline.metadata["fit"]["steps"] == 3
    assert json.loads((out / "train_args.json").read_text())["steps"] == 3
    # An option that changes what a step computes is still refused.
    assert main(["train-txt2img", "--resume", "--batch-size", "8", *QUIET, "--out", str(out)]) == 1
    assert "batch_size" in capsys.readouterr().err


@pytest.mark.parametrize(
    "saved, message",
    [
        ('{"channels": "wide"}', "channels (--channels) must be a int or null"),
        ("[1, 2]", "does not hold a JSON object"),
        ("{not json", "is not a readable JSON file"),
    ],
)
def test_a_damaged_train_args_file_is_one_line(tmp_path, capsys, saved, message):
    out = tmp_path / "run"
    out.mkdir()
    (out / "train_args.json").write_text(saved)
    assert main(["train-vae", "--resume", *QUIET, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert sorted(p.name for p in out.iterdir()) == ["train_args.json"]
