"""Data loading (generator, .npz, course files, folders), model range, grids, `diffprob data`."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from diffprob.cli import main
from diffprob.diffusion.model_range import from_model_range, to_model_range
from diffprob.errors import DataError, ParameterError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.dataset import (
    COURSE_CLASSES,
    SpriteData,
    load_sprite_data,
    split_train_test,
)
from diffprob.sprites.generator import generate_sprites
from diffprob.sprites.grid import class_grid, make_grid


def _write_png(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def _course_files(tmp_path, n=12, images=None, onehot=None):
    rng = np.random.default_rng(0)
    if images is None:
        images = rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)
    if onehot is None:
        onehot = np.eye(5)[np.arange(n) % 5]
    img_path = tmp_path / f"sprites_{n}_16x16.npy"
    np.save(img_path, images)
    np.save(tmp_path / f"sprite_labels_nc_{n}_16x16.npy", onehot)
    return img_path, images, onehot


# ---------------------------------------------------------------- generator


def test_generator_source_matches_generate_sprites():
    data = load_sprite_data("sprites", n=30, size=32, seed=4)
    images, labels = generate_sprites(30, size=32, seed=4)
    assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
    assert data.class_names == CLASSES and data.image_size == 32
    assert data.source == "sprites(n=30, size=32, seed=4)"
    assert data.one_hot().sum(axis=1).tolist() == [1.0] * 30


# -------------------------------------------------------------------- .npz


def test_npz_round_trip(tmp_path):
    data = load_sprite_data("sprites", n=25, seed=1)
    path = tmp_path / "set.npz"
    data.save(path)
    back = load_sprite_data(path)
    assert np.array_equal(back.images, data.images)
    assert np.array_equal(back.labels, data.labels) and back.labels.dtype == np.int64
    assert back.class_names == CLASSES and back.source == str(path)


def test_npz_subset_is_seeded_and_in_file_order(tmp_path):
    data = load_sprite_data("sprites", n=40, seed=1)
    data.save(tmp_path / "set.npz")
    a = load_sprite_data(tmp_path / "set.npz", n=10, seed=3)
    b = load_sprite_data(tmp_path / "set.npz", n=10, seed=3)
    assert np.array_equal(a.images, b.images) and len(a) == 10
    rows = [int(np.flatnonzero((data.images == im).all(axis=(1, 2, 3)))[0]) for im in a.images]
    assert rows == sorted(rows)
    with pytest.raises(DataError, match="fewer than n=41"):
        load_sprite_data(tmp_path / "set.npz", n=41)


def test_npz_errors(tmp_path):
    images = np.zeros((3, 16, 16, 3), np.uint8)
    np.savez(tmp_path / "nokeys.npz", images=images)
    with pytest.raises(DataError, match="missing keys"):
        load_sprite_data(tmp_path / "nokeys.npz")
    np.savez(
        tmp_path / "mismatch.npz",
        images=images,
        labels=np.zeros(2, np.int64),
        class_names=np.array(["a"]),
    )
    with pytest.raises(DataError, match="3 images but 2 labels"):
        load_sprite_data(tmp_path / "mismatch.npz")
    np.savez(
        tmp_path / "range.npz",
        images=images,
        labels=np.array([0, 1, 2]),
        class_names=np.array(["a", "b"]),
    )
    with pytest.raises(DataError, match="labels must be in"):
        load_sprite_data(tmp_path / "range.npz")
    np.savez(
        tmp_path / "shape.npz",
        images=images[..., 0],
        labels=np.zeros(3, np.int64),
        class_names=np.array(["a"]),
    )
    with pytest.raises(DataError, match="shape"):
        load_sprite_data(tmp_path / "shape.npz")
    np.savez(
        tmp_path / "dtype.npz",
        images=images.astype(np.float32) + 0.5,
        labels=np.zeros(3, np.int64),
        class_names=np.array(["a"]),
    )
    with pytest.raises(DataError, match="uint8"):
        load_sprite_data(tmp_path / "dtype.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_sprite_data(tmp_path / "junk.npz")


# ------------------------------------------------------------ course format


def test_course_format_round_trip(tmp_path):
    path, images, onehot = _course_files(tmp_path)
    data = load_sprite_data(path)
    assert np.array_equal(data.images, images)
    assert data.labels.tolist() == (np.arange(12) % 5).tolist()
    assert data.class_names == COURSE_CLASSES
    # enlarging keeps pixel art crisp: nearest neighbour = repeat
    big = load_sprite_data(path, size=32)
    assert np.array_equal(big.images, images.repeat(2, axis=1).repeat(2, axis=2))


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("no labels", "labels file"),
        ("length", "12 images .* but 11 label rows"),
        ("not one-hot", "sum to 1"),
        ("negative", "non-negative"),
        ("images 3-D", "shape"),
        ("float images", "uint8"),
        ("labels 1-D", "one-hot"),
    ],
)
def test_course_format_errors(tmp_path, case, match):
    onehot = np.eye(5)[np.arange(12) % 5]
    images = np.zeros((12, 16, 16, 3), np.uint8)
    if case == "length":
        onehot = onehot[:11]
    elif case == "not one-hot":
        onehot[3] = [0.5, 0.2, 0, 0, 0]
    elif case == "negative":
        onehot[3] = [2, -1, 0, 0, 0]
    elif case == "images 3-D":
        images = images[..., 0]
    elif case == "float images":
        images = images.astype(np.float64) + 0.25
    elif case == "labels 1-D":
        onehot = np.arange(12.0)
    path, _, _ = _course_files(tmp_path, images=images, onehot=onehot)
    if case == "no labels":
        (tmp_path / "sprite_labels_nc_12_16x16.npy").unlink()
    with pytest.raises(DataError, match=match):
        load_sprite_data(path)


def test_course_file_must_be_named_like_the_course(tmp_path):
    np.save(tmp_path / "mine.npy", np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(DataError, match="sprite_labels_nc_"):
        load_sprite_data(tmp_path / "mine.npy")


# ------------------------------------------------------------------ folders


def test_folder_loader_labels_from_subfolders_and_area_resize(tmp_path):
    root = tmp_path / "set"
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 200
    checker = np.zeros((32, 32, 3), np.uint8)
    checker[::2, ::2] = 255
    checker[1::2, 1::2] = 255
    _write_png(root / "b_spell" / "1.png", checker)
    _write_png(root / "a_hero" / "1.png", red)
    _write_png(root / "a_hero" / "2.png", red[:16, :16])
    (root / "a_hero" / "notes.txt").write_text("ignored")
    data = load_sprite_data(root)
    assert data.class_names == ("a_hero", "b_spell")
    assert data.labels.tolist() == [0, 0, 1]
    assert data.images.shape == (3, 16, 16, 3)
    assert np.all(data.images[0] == [200, 0, 0]) and np.all(data.images[1] == [200, 0, 0])
    # area interpolation averages each 2x2 block: half white, half black
    assert np.all(np.abs(data.images[2].astype(int) - 128) <= 1)


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        load_sprite_data(tmp_path / "empty")
    _write_png(tmp_path / "flat" / "x.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(DataError, match="no sub-folders"):
        load_sprite_data(tmp_path / "flat")
    (tmp_path / "classes" / "hero").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        load_sprite_data(tmp_path / "classes")


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_sprite_data(tmp_path / "nope.npz")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match="unknown data format"):
        load_sprite_data(tmp_path / "x.csv")
    with pytest.raises(ParameterError):
        load_sprite_data("sprites", n=0)
    with pytest.raises(ParameterError):
        load_sprite_data("sprites", size=20)


def test_sprite_data_validates():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(DataError, match="2 images but 3 labels"):
        SpriteData(images, np.zeros(3, np.int64), ("a",), "t")
    with pytest.raises(DataError, match="int64"):
        SpriteData(images, np.zeros(2, np.int32), ("a",), "t")
    with pytest.raises(DataError, match="uint8"):
        SpriteData(images.astype(float), np.zeros(2, np.int64), ("a",), "t")
    with pytest.raises(DataError, match="labels must be in"):
        SpriteData(images, np.array([0, 1]), ("a",), "t")


# --------------------------------------------------------------- train/test


def test_split_train_test_is_stratified_disjoint_and_seeded():
    data = load_sprite_data("sprites", n=200, seed=0)
    train, test = split_train_test(data, 0.1, seed=3)
    assert len(train) + len(test) == 200
    assert test.class_counts().tolist() == [4] * 5
    joined = np.concatenate([train.images, test.images]).reshape(200, -1)
    assert len(np.unique(joined, axis=0)) == len(np.unique(data.images.reshape(200, -1), axis=0))
    again, _ = split_train_test(data, 0.1, seed=3)
    assert np.array_equal(again.images, train.images)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ParameterError):
            split_train_test(data, bad)
    with pytest.raises(DataError, match="empty"):
        split_train_test(load_sprite_data("sprites", n=5), 0.01)


# -------------------------------------------------------------- model range


def test_model_range_round_trip_every_level():
    levels = np.arange(256, dtype=np.uint8)
    images = np.stack([levels, levels[::-1], levels], axis=-1).reshape(1, 16, 16, 3)
    x = to_model_range(images)
    assert x.shape == (1, 3, 16, 16) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(x[0, 1], images[0, ..., 1] / np.float32(127.5) - 1)
    assert np.array_equal(from_model_range(x), images)


def test_from_model_range_rounds_clips_and_takes_tensors():
    import torch

    x = torch.tensor([-3.0, -1.0, 0.0, 0.999, 5.0]).reshape(1, 1, 1, 5)
    assert from_model_range(x).ravel().tolist() == [0, 0, 128, 255, 255]
    with pytest.raises(ParameterError):
        from_model_range(np.full((1, 3, 2, 2), np.nan))
    with pytest.raises(ParameterError):
        to_model_range(np.zeros((2, 2, 3), np.float32))


# -------------------------------------------------------------------- grids


def test_make_grid_places_tiles():
    tiles = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (10, 20, 30)])
    grid = make_grid(tiles, ncols=2, scale=3, pad=1, pad_value=255)
    assert grid.shape == (2 * 7 + 1, 2 * 7 + 1, 3)
    assert np.all(grid[1:7, 1:7] == 10) and np.all(grid[1:7, 8:14] == 20)
    assert np.all(grid[8:14, 1:7] == 30) and np.all(grid[8:14, 8:14] == 255)
    assert np.all(grid[0] == 255) and np.all(grid[:, 7] == 255)
    with pytest.raises(ParameterError):
        make_grid(tiles.astype(float), 2)
    with pytest.raises(ParameterError):
        make_grid(tiles, 0)


def test_class_grid_one_row_per_class():
    images, labels = generate_sprites(30, seed=0)
    grid = class_grid(images, labels, CLASSES, ncols=3, scale=2, pad=1, label_width=50)
    assert grid.shape == (5 * 33 + 1, 50 + 3 * 33 + 1, 3)
    first_food = images[labels == 2][0].repeat(2, axis=0).repeat(2, axis=1)
    assert np.array_equal(grid[1 + 2 * 33 : 1 + 2 * 33 + 32, 51:83], first_food)


def test_class_grid_names_grow_with_the_tiles():
    images, labels = generate_sprites(10, seed=0)

    def ink_rows(scale):  # height of the first class name's ink, in pixels
        grid = class_grid(images, labels, CLASSES, ncols=2, scale=scale)
        tile = 16 * scale + 1
        label_col = grid[1 : 1 + tile, : grid.shape[1] - 2 * tile - 1]
        dark = np.flatnonzero((label_col < 128).any(axis=(1, 2)))
        return dark[-1] - dark[0] + 1

    small, large = ink_rows(2), ink_rows(8)
    assert 6 <= small <= 12 and large >= 2.5 * small


# ---------------------------------------------------------------------- CLI


def test_cli_writes_dataset_and_preview(tmp_path, capsys):
    out = tmp_path / "d" / "s.npz"
    assert main(["data", "sprites", "-n", "50", "-o", str(out), "--seed", "3"]) == 0
    data = load_sprite_data(out)
    images, labels = generate_sprites(50, seed=3)
    assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
    preview = cv2.imread(str(tmp_path / "d" / "s_preview.png"))
    assert preview.shape[0] == 5 * (16 * 4 + 1) + 1
    assert "wrote 50 sprites" in capsys.readouterr().out


def test_cli_size_32_json_and_custom_preview(tmp_path, capsys):
    out, prev = tmp_path / "s.npz", tmp_path / "p.png"
    code = main(
        [
            "data",
            "sprites",
            "-n",
            "5",
            "-o",
            str(out),
            "--size",
            "32",
            "--preview",
            str(prev),
            "--json",
        ]
    )
    assert code == 0 and prev.exists()
    assert '"class_counts": [' in capsys.readouterr().out
    assert load_sprite_data(out, size=32).images.shape == (5, 32, 32, 3)


def test_cli_refuses_overwrite_unless_forced(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["data", "sprites", "-n", "5", "-o", str(out), "--no-preview"]) == 0
    before = out.read_bytes()
    assert main(["data", "sprites", "-n", "7", "-o", str(out), "--no-preview"]) == 1
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["data", "sprites", "-n", "7", "-o", str(out), "--no-preview", "--force"]) == 0
    assert len(load_sprite_data(out)) == 7
    assert not (tmp_path / "s_preview.png").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["-n", "0", "-o", "x.npz"],
        ["-n", "5", "-o", "x.png"],
        ["-n", "5", "-o", "x.npz", "--size", "20"],
        ["-n", "5", "-o", "x.npz", "--preview", "p.jpg"],
    ],
)
def test_cli_bad_inputs_write_nothing(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(["data", "sprites", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("diffprob data: error:")
    assert list(tmp_path.iterdir()) == []


def test_cli_subprocess_good_and_bad(tmp_path):
    good = subprocess.run(
        [sys.executable, "-m", "diffprob", "data", "sprites", "-n", "10", "-o", "a.npz"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "a.npz").exists() and (tmp_path / "a_preview.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "diffprob", "data", "sprites", "-n", "-3", "-o", "b.npz"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in bad.stderr
    assert not (tmp_path / "b.npz").exists() and not (tmp_path / "b_preview.png").exists()
