"""`diffprob noise|hist|joint|demo` end to end, including every bad input."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from diffprob.cli import main
from diffprob.stats import example_image
from diffprob.stats.example_image import make_sample_image
from diffprob.stats.io import load_image, save_image

IMAGE = make_sample_image(40, 48, seed=4)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    save_image(path, IMAGE)
    return path


def run_cli(args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "diffprob", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def snapshot(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


# --- noise -----------------------------------------------------------------


def test_noise_subprocess_writes_default_name_and_summary(photo, tmp_path):
    result = run_cli(["noise", photo, "--var", "0.02", "--seed", "3"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "photo_noisy_m0_v0.02.png"
    assert out.exists() and f"wrote {out.name}" in result.stdout
    noisy = load_image(out)
    steps = (noisy.astype(int) - IMAGE) / 255
    assert abs(steps.var() - 0.02) < 0.004  # clipping shrinks it a little


def test_noise_json_seed_plot_and_no_clip(photo, tmp_path, capsys):
    out, fig = tmp_path / "n.png", tmp_path / "plots" / "noise.png"
    args = [
        "noise",
        str(photo),
        "--mean",
        "0.1",
        "--var",
        "0.05",
        "--seed",
        "1",
        "--no-clip",
        "-o",
        str(out),
        "--plot",
        str(fig),
        "--json",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clip"] is False and summary["seed"] == 1
    assert abs(summary["noise_mean"] - 0.1) < 0.02 and abs(summary["noise_var"] - 0.05) < 0.01
    assert summary["fraction_outside_0_1"] > 0.05
    assert fig.stat().st_size > 1000
    first = out.read_bytes()
    assert main(args) == 0  # same seed, same file
    assert out.read_bytes() == first


# --- hist ------------------------------------------------------------------


def test_hist_folder_pools_and_csv_format(tmp_path, capsys):
    folder = tmp_path / "paintings"
    folder.mkdir()
    save_image(folder / "a.png", IMAGE)
    save_image(folder / "b.png", IMAGE[::2])
    csv_path = tmp_path / "palette.csv"
    assert (
        main(
            [
                "hist",
                str(folder),
                "--bins",
                "16",
                "--space",
                "hsv",
                "--csv",
                str(csv_path),
                "--plot",
                str(tmp_path / "h.png"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "2 image(s)" in text and "H " in text
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "bin",
        "H_count",
        "H_pmf",
        "H_cdf",
        "S_count",
        "S_pmf",
        "S_cdf",
        "V_count",
        "V_pmf",
        "V_cdf",
    ]
    assert len(rows) == 17 and [r[0] for r in rows[1:]] == [str(k) for k in range(16)]
    from diffprob.stats.histograms import channel_histograms

    ref = channel_histograms([IMAGE, IMAGE[::2]], bins=16, space="hsv")
    assert [int(r[4]) for r in rows[1:]] == ref.counts[1].tolist()
    assert float(rows[-1][3]) == 1.0
    assert np.allclose([float(r[2]) for r in rows[1:]], ref.pmf[0])


def test_noise_without_seed_draws_one_and_reports_it(photo, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert main(["noise", str(photo), "-o", str(out), "--json"]) == 0
    seed = json.loads(capsys.readouterr().out)["seed"]
    assert isinstance(seed, int) and seed >= 0
    first = load_image(out)
    again = tmp_path / "b.png"
    assert main(["noise", str(photo), "-o", str(again), "--seed", str(seed)]) == 0
    assert f"seed {seed}" in capsys.readouterr().out
    np.testing.assert_array_equal(load_image(again), first)  # the reported seed repeats it


def test_hist_json(photo, capsys):
    assert main(["hist", str(photo), str(photo), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_images"] == 2 and data["n_pixels"] == 2 * 40 * 48
    assert data["stats"]["R"]["mean"] == pytest.approx(IMAGE[..., 0].mean())
    assert sum(data["counts"]["G"]) == data["n_pixels"]


def test_hist_hsv_csv_and_json_give_hue_its_own_180_bins(photo, tmp_path, capsys):
    csv_path = tmp_path / "hsv.csv"
    assert main(["hist", str(photo), "--space", "hsv", "--csv", str(csv_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["channel_bins"] == {"H": 180, "S": 256, "V": 256}
    assert len(data["counts"]["H"]) == 180 and sum(data["counts"]["H"]) == data["n_pixels"]
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 257 and rows[180][1] != "" and rows[181][1:4] == ["", "", ""]
    assert rows[181][4] != ""  # S goes on


def _rgba_tile(path, opaque_rows=4):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200  # red where opaque
    rgba[:opaque_rows, :, 3] = 255
    from PIL import Image

    Image.fromarray(rgba, "RGBA").save(path)


@pytest.mark.parametrize("verb", ["hist", "joint"])
def test_alpha_ignore_counts_only_opaque_pixels(verb, tmp_path, capsys):
    tile = tmp_path / "tile.png"
    _rgba_tile(tile)
    assert main([verb, str(tile), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n_pixels"] == 100
    assert "60 of 100 pixels" in err and "--alpha ignore" in err  # the note says so
    assert main([verb, str(tile), "--json", "--alpha", "ignore"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["n_pixels"] == 40 and err == ""


def test_hist_subprocess(photo, tmp_path):
    result = run_cli(["hist", photo, "--space", "lab"], cwd=tmp_path)
    assert result.returncode == 0 and "entropy" in result.stdout and result.stderr == ""


# --- joint -----------------------------------------------------------------


def test_joint_given_json_and_plots(photo, tmp_path, capsys):
    fig = tmp_path / "rg.png"
    value = int(IMAGE[0, 0, 0])
    assert (
        main(
            [
                "joint",
                str(photo),
                "--x",
                "R",
                "--y",
                "G",
                "--bins",
                "64",
                "--given",
                f"R={value}",
                "--given",
                "G=0",
                "--plot",
                str(fig),
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["x"] == "R" and data["bins"] == 64
    first, second = data["conditionals"]
    assert first["channel"] == "R" and sum(first["pmf"]) == pytest.approx(1.0)
    assert first["probability_of_condition"] > 0
    from diffprob.stats.joint import joint_histogram

    ref = joint_histogram(IMAGE, "R", "G", bins=64)
    assert np.allclose(first["pmf"], ref.conditional("R", value))
    assert data["mutual_information_bits"] == pytest.approx(ref.mutual_information_bits)
    assert fig.exists() and (tmp_path / "rg_given_R.png").exists()
    assert (tmp_path / "rg_given_G.png").exists()


def test_joint_subprocess_summary(photo, tmp_path):
    result = run_cli(["joint", photo, "--x", "r", "--y", "b", "--given", "R=128"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Pearson r" in result.stdout and "I(R;B)" in result.stdout
    assert "P(B | R = 128)" in result.stdout


# --- demo ------------------------------------------------------------------


@pytest.mark.slow  # ten matplotlib figures: ~5-8 s on a busy 2-core machine
def test_demo_writes_figures(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 8 and all((out / os.path.basename(p)).exists() for p in lines)
    assert np.array_equal(
        load_image(out / "original.png"),
        load_image(example_image.SAMPLE_PATH),
    )


def test_demo_refuses_a_file_as_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["demo", "--out", str(target)]) == 1


# --- bad input: one line on stderr, exit 1, nothing written ------------------


def bad_cases(photo, folder):
    corrupt = folder / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return {
        "missing file": (["noise", folder / "nope.png"], "nope.png"),
        "corrupt file": (["hist", corrupt], "corrupt.png"),
        "negative variance": (["noise", photo, "--var", "-0.01"], "var"),
        "unknown channel": (["joint", photo, "--x", "Q"], "R, G, B"),
        "bins out of range": (["hist", photo, "--bins", "0"], "bins"),
        "joint bins too many": (["joint", photo, "--bins", "999"], "bins"),
        "output is input": (["noise", photo, "-o", photo], "input"),
        "plot is input": (["hist", photo, "--plot", photo], "input"),
        "bad --given": (["joint", photo, "--given", "R"], "CHANNEL=VALUE"),
        "given out of range": (["joint", photo, "--given", "R=300"], "[0, 256)"),
        "given other channel": (["joint", photo, "--given", "B=3"], "--x R or --y G"),
        "negative seed": (["noise", photo, "--seed", "-1"], "seed"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "corrupt file",
        "negative variance",
        "unknown channel",
        "bins out of range",
        "output is input",
    ],
)
def test_bad_input_subprocess(photo, tmp_path, case):
    args, needle = bad_cases(photo, tmp_path)[case]
    before = snapshot(tmp_path)
    original = photo.read_bytes()
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and needle in lines[0]
    assert lines[0].startswith(f"diffprob {args[0]}: error:")
    assert result.stdout == ""
    assert snapshot(tmp_path) == before and photo.read_bytes() == original


@pytest.mark.parametrize(
    "case",
    [
        "joint bins too many",
        "plot is input",
        "bad --given",
        "given out of range",
        "given other channel",
        "negative seed",
    ],
)
def test_bad_input_in_process(photo, tmp_path, case, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, needle = bad_cases(photo, tmp_path)[case]
    before = snapshot(tmp_path)
    original = photo.read_bytes()
    assert main([str(a) for a in args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert snapshot(tmp_path) == before and photo.read_bytes() == original


def test_help_documents_every_option(capsys):
    for verb, options in {
        "noise": ["--mean", "--var", "--seed", "--no-clip", "--output", "--plot", "--json"],
        "hist": ["--bins", "--space", "--plot", "--csv", "--json"],
        "joint": ["--x", "--y", "--bins", "--given", "--plot", "--json"],
        "demo": ["--out"],
    }.items():
        with pytest.raises(SystemExit):
            main([verb, "--help"])
        text = capsys.readouterr().out
        assert "examples:" in text
        for option in options:
            assert option in text
