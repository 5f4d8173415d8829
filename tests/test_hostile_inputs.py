"""Hostile inputs: files and options that ask for unbounded memory, or are not what they say.

Each refusal must be one line (``diffprob VERB: error: ...``), exit status 1, nothing
written and the inputs unchanged, and it must come *before* the allocation: the command
line runs as a subprocess under an address-space cap (RLIMIT_AS) far below what the
input asks for. Property-based tests (hypothesis) check the option parsers and the
image reader on arbitrary input.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from diffprob.cli import main
from diffprob.cli._common import check_range, finite_float, non_negative_int, positive_int
from diffprob.errors import DataError, ImageReadError, ParameterError
from diffprob.sprites.dataset import load_sprite_data
from diffprob.stats.io import load_image, save_image
from diffprob.util.limits import DATA_BYTES_ENV, PIXELS_ENV, DecompressionBombWarning

# torch's import alone maps about 1.5 GiB of address space; 3 GiB leaves room for the
# work a refusal needs and is far below every request below (4 GB and up).
CAP = 3 * 2**30


def _cap():
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def run_capped(args, cwd, env=None):
    """``python -m diffprob ARGS`` under the memory cap; (status, stderr lines)."""
    proc = subprocess.run(
        [sys.executable, "-m", "diffprob", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        preexec_fn=_cap,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stderr.strip().splitlines()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(status, lines, verb, *words):
    assert status == 1, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"diffprob {verb}: error: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert "weights_only=False" not in lines[0] and "allow_pickle" not in lines[0]


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid 1-bit grayscale PNG of width x height zeros: ~50 kB, 400 MP decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = bytes(1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def big_npz(path: Path, n: int = 3_000_000) -> Path:
    """An .npz whose images.npy header says (n, 16, 16, 3) uint8 (2.3 GB), holding ~1 kB."""
    members = {
        "images": {"descr": "|u1", "fortran_order": False, "shape": (n, 16, 16, 3)},
        "labels": {"descr": "<i8", "fortran_order": False, "shape": (n,)},
        "class_names": {"descr": "<U1", "fortran_order": False, "shape": (1,)},
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, header in members.items():
            buffer = io.BytesIO()
            np.lib.format.write_array_header_1_0(buffer, header)
            archive.writestr(f"{key}.npy", buffer.getvalue() + bytes(1024))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png")


# -- decoded-image pixel limit ----------------------------------------------------------------
@pytest.mark.parametrize(("verb", "out"), [("noise", "-o"), ("hist", "--plot"), ("forward", "-o")])
def test_decompression_bomb_is_refused_before_decoding(bomb, tmp_path, verb, out):
    before = _digest(bomb)
    status, lines = run_capped([verb, bomb, out, tmp_path / "out.png"], tmp_path)
    assert_refused(status, lines, verb, "400,000,000 pixels", PIXELS_ENV)
    assert _digest(bomb) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_pixel_limit_env_var_lowers_and_raises_the_limit(tmp_path):
    path = tmp_path / "small.png"
    save_image(path, np.zeros((64, 64, 3), np.uint8))
    os.environ[PIXELS_ENV] = "1000"
    try:
        with pytest.raises(ImageReadError, match=f"64x64 = 4,096 pixels.*{PIXELS_ENV}"):
            load_image(path)
        os.environ[PIXELS_ENV] = "5000"  # above half the limit: read, with a warning
        with pytest.warns(DecompressionBombWarning):
            assert load_image(path).shape == (64, 64, 3)
        os.environ[PIXELS_ENV] = "many"
        with pytest.raises(ImageReadError, match=PIXELS_ENV):
            load_image(path)
    finally:
        del os.environ[PIXELS_ENV]
    assert load_image(path).shape == (64, 64, 3)


def test_noise_memory_stays_a_small_multiple_of_the_image():
    """add_gaussian_noise_uint8 on 12 MP: a few blocks of temporaries, not 12 bytes a value."""
    import tracemalloc

    from diffprob.stats.io import to_uint8
    from diffprob.stats.noise import add_gaussian_noise, add_gaussian_noise_uint8

    image = (np.arange(2000 * 2000 * 3) % 251).astype(np.uint8).reshape(2000, 2000, 3)
    tracemalloc.start()
    stored = add_gaussian_noise_uint8(image, 0.01, 0.02, rng=5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < image.nbytes + 2 * 2**22 * 40  # output + two blocks in flight
    reference = add_gaussian_noise(image, 0.01, 0.02, rng=5)
    assert np.array_equal(stored.image, to_uint8(reference.image))
    assert math.isclose(stored.noise_var, float(reference.noise.var(dtype=np.float64)))


# -- archives that unpack big, or are not archives -------------------------------------------
def test_big_npz_is_refused_from_its_headers(tmp_path):
    path = big_npz(tmp_path / "big.npz")
    with pytest.raises(DataError, match=f"unpacks to .* bytes.*{DATA_BYTES_ENV}"):
        load_sprite_data(path)
    before = _digest(path)
    status, lines = run_capped(
        ["train", "--data", path, "--out", tmp_path / "run", "--steps", 1], tmp_path
    )
    assert_refused(status, lines, "train", "big.npz", DATA_BYTES_ENV)
    assert _digest(path) == before and not (tmp_path / "run").exists()


def test_data_byte_limit_env_var(tmp_path):
    path = tmp_path / "good.npz"
    load_sprite_data("sprites", n=20).save(path)
    os.environ[DATA_BYTES_ENV] = "1000"
    try:
        with pytest.raises(DataError, match="more than the limit of 1,000"):
            load_sprite_data(path)
    finally:
        del os.environ[DATA_BYTES_ENV]
    assert len(load_sprite_data(path)) == 20


def test_truncated_text_and_pickled_data_files(tmp_path):
    good = tmp_path / "good.npz"
    load_sprite_data("sprites", n=20).save(good)
    (tmp_path / "truncated.npz").write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataError, match="not a readable .npz file .*was not loaded"):
        load_sprite_data(tmp_path / "truncated.npz")
    (tmp_path / "text.npz").write_text("images,labels\n1,2\n")
    with pytest.raises(DataError, match="not a diffprob data file") as info:
        load_sprite_data(tmp_path / "text.npz")
    assert "allow_pickle" not in str(info.value)
    pickled = tmp_path / "sprites_9_16x16.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "sprite_labels_nc_9_16x16.npy", np.eye(5)[:1])
    with pytest.raises(DataError, match="Python objects") as info:
        load_sprite_data(pickled)
    assert "allow_pickle" not in str(info.value)


# -- size-like options ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sample", "--n", "1000000"], ["--n must be at most 10,000"]),
        (["sample", "--per-class", "1000000"], ["--per-class must be at most"]),
        (["sample", "--resample", "10000000"], ["--resample"]),
        (["forward", "IMG", "--timesteps", "100000000"], ["--timesteps must be at most"]),
        (["forward", "IMG", "--bins", "100000000"], ["--bins must be at most"]),
        (["data", "sprites", "-n", "100000000", "-o", "x.npz"], ["-n must be at most"]),
        (["data", "sprites", "-n", "5000000", "-o", "x.npz", "--size", "64"], [DATA_BYTES_ENV]),
        (["evaluate", "--n", "100000000"], ["--n must be at most 100,000"]),
        (["evaluate", "--n-reference", "100000000"], ["--n-reference"]),
        (["evaluate", "--batch-size", "100000000"], ["--batch-size must be at most"]),
        (["demo", "--out", ""], ["--out is empty"]),
    ],
)
def test_unbounded_options_are_one_line_errors(args, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "img.png"
    save_image(image, np.zeros((8, 8, 3), np.uint8))
    args = [str(image) if a == "IMG" else a for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]


def test_huge_sample_scale_is_refused_under_the_cap(tmp_path):
    status, lines = run_capped(["sample", "--scale", 100000, "-o", tmp_path / "g.png"], tmp_path)
    assert_refused(status, lines, "sample", "sample grid", PIXELS_ENV)
    assert list(tmp_path.iterdir()) == []


# -- checkpoints ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from diffprob.diffusion.checkpoint import Checkpoint
    from diffprob.diffusion.models.unet import build_unet
    from diffprob.diffusion.schedule import NoiseSchedule

    net = build_unet("tiny")
    return Checkpoint.from_model(net, NoiseSchedule(20), ema_model=net, class_names="abcde")


def _save_dict(path: Path, data: dict) -> Path:
    import torch

    torch.save(data, path)
    return path


def test_checkpoint_with_huge_n_feat_is_refused_before_allocating(tiny_checkpoint, tmp_path):
    data = tiny_checkpoint.to_dict()
    data["model_config"] = {**data["model_config"], "n_feat": 200_000}
    path = _save_dict(tmp_path / "huge.pt", data)
    before = _digest(path)
    status, lines = run_capped(["sample", "--ckpt", path, "-o", tmp_path / "g.png"], tmp_path)
    assert_refused(status, lines, "sample", "n_feat must be at most 512")
    assert _digest(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["huge.pt"]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("directory", ["is a directory"]),
        ("class_names", ["names 3 classes but its model has n_cfeat = 5"]),
        ("pickled", ["not a readable diffprob checkpoint and was not loaded"]),
        ("text", ["not a readable diffprob checkpoint"]),
    ],
)
def test_bad_checkpoints_are_one_line_errors(tiny_checkpoint, tmp_path, kind, words, capsys):
    path = tmp_path / "ckpt.pt"
    if kind == "directory":
        path.mkdir()
    elif kind == "class_names":
        _save_dict(path, {**tiny_checkpoint.to_dict(), "class_names": ["a", "b", "c"]})
    elif kind == "pickled":
        _save_dict(path, {"format": argparse.Namespace(evil=True)})
    else:
        path.write_text("not a checkpoint\n")
    assert main(["sample", "--ckpt", str(path), "-o", str(tmp_path / "g.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert "weights_only=False" not in err[0]
    assert not (tmp_path / "g.png").exists()


# -- property-based ---------------------------------------------------------------------------
@given(st.text(max_size=30))
def test_int_parsers_accept_integers_and_refuse_the_rest(text):
    for parse, low in ((positive_int, 1), (non_negative_int, 0)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert str(exc).startswith("expected an integer")
        else:
            assert isinstance(value, int) and value >= low and value == int(text)


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_int_parsers_on_integers(value):
    for parse, low in ((positive_int, 1), (non_negative_int, 0)):
        if value >= low:
            assert parse(str(value)) == value
        else:
            with pytest.raises(argparse.ArgumentTypeError):
                parse(str(value))


@given(st.one_of(st.text(max_size=30), st.floats().map(repr)))
def test_finite_float_is_finite_or_refused(text):
    try:
        value = finite_float(text)
    except argparse.ArgumentTypeError as exc:
        assert str(exc).startswith("expected a")
    else:
        assert math.isfinite(value)


@given(
    st.integers(-1000, 1000),
    st.one_of(st.none(), st.integers(-1000, 1000)),
    st.one_of(st.none(), st.integers(-1000, 1000)),
)
def test_check_range(value, low, high):
    inside = (low is None or value >= low) and (high is None or value <= high)
    if inside:
        check_range("--x", value, low, high)
    else:
        with pytest.raises(ParameterError, match=r"^--x must be in \["):
            check_range("--x", value, low, high)


PNG_HEADER = b"\x89PNG\r\n\x1a\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(min_size=0, max_size=300),
        st.binary(max_size=300).map(lambda b: PNG_HEADER + b),
        st.binary(max_size=300).map(lambda b: b"\xff\xd8\xff" + b),
        st.binary(max_size=300).map(lambda b: b"BM" + b),
    )
)
def test_load_image_on_random_bytes_raises_only_image_read_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("random") / "random.png"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except ImageReadError:
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_huge_header_with_random_body_is_refused(tmp_path):
    """An IHDR that claims 100000 x 100000, followed by garbage: one ImageReadError."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    body = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + body + struct.pack(">I", zlib.crc32(body))
    path = tmp_path / "claims.png"
    path.write_bytes(PNG_HEADER + ihdr + os.urandom(200))
    with pytest.raises(ImageReadError, match=PIXELS_ENV):
        load_image(path)
