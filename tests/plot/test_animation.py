"""diffprob.plot.animation: denoising frames, labelled with timesteps and row names."""

import numpy as np
import pytest

from diffprob.errors import ParameterError
from diffprob.plot.animation import denoising_frames, save_denoising_gif
from diffprob.sprites.grid import make_grid


def test_row_labels_add_a_name_column_left_of_every_frame(tmp_path):
    states = [np.full((4, 3, 4, 4), v) for v in (-1.0, 0.0, 1.0)]
    plain = denoising_frames(states, [20, 10, 0], ncols=2, scale=4)
    named = denoising_frames(states, [20, 10, 0], ncols=2, scale=4, row_labels=["hero", "food"])
    assert len(named) == len(plain)
    for a, b in zip(plain, named, strict=True):
        extra = b.shape[1] - a.shape[1]
        assert extra > 0 and b.shape[0] == a.shape[0]
        np.testing.assert_array_equal(b[12:, extra:], a[12:])  # the grid itself is unchanged
        assert (b[12:, :extra] < 255).any()  # ink in the name column, below the t strip
    path = save_denoising_gif(
        states, tmp_path / "d.gif", [20, 10, 0], ncols=2, row_labels=["a", "b"]
    )
    assert path.stat().st_size > 0


def test_row_labels_must_match_the_rows():
    states = [np.zeros((4, 3, 4, 4))]
    with pytest.raises(ParameterError, match="row labels"):
        denoising_frames(states, ncols=2, row_labels=["only one"])


def test_class_grid_rows_are_labelled():
    from diffprob.sprites.grid import class_grid, label_rows

    images = np.zeros((4, 2, 2, 3), np.uint8)
    grid = class_grid(images, np.array([0, 0, 1, 1]), ["a", "b"], ncols=2, scale=8, label_width=30)
    np.testing.assert_array_equal(
        grid, label_rows(make_grid(images, 2, scale=8), ["a", "b"], 16, width=30)
    )
