"""Animated GIFs of the reverse (denoising) process.

Each frame is a grid of the batch at one captured timestep of
:func:`diffprob.diffusion.sampling.sample` (``trajectory_every=k``), upscaled by pixel repetition
so sprites stay crisp, with the timestep written above it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from diffprob.errors import ImageWriteError, ParameterError

__all__ = ["denoising_frames", "save_denoising_gif"]


def _label_strip(text: str, width: int, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(strip).text((3, 1), text, fill=(0, 0, 0))
    return np.asarray(strip)


def denoising_frames(
    trajectory,
    timesteps=None,
    *,
    ncols: int | None = None,
    scale: int = 4,
    pad: int = 1,
    label: bool = True,
    row_labels=None,
) -> list[np.ndarray]:
    """One uint8 RGB grid image per captured state of a sampling run.

    Parameters
    ----------
    trajectory : SampleResult or sequence of array_like
        A :class:`~diffprob.diffusion.sampling.SampleResult` (its ``trajectory`` and
        ``trajectory_timesteps`` are used) or a sequence of (n, C, H, W) states in [-1, 1].
    timesteps : sequence of int, optional
        The timestep of each state, written above its frame.
    ncols : int, optional
        Images per row (default: ceil(sqrt(n))).
    scale, pad : int, optional
        Nearest-neighbour upscaling factor and gap, as in :func:`diffprob.sprites.grid.make_grid`.
    label : bool, optional
        Write ``t = ...`` in a white strip above each frame (needs `timesteps`).
    row_labels : sequence of str, optional
        A name left of each row of the grid (e.g. the class of a per-class run).

    Returns
    -------
    list of ndarray
        (H', W', 3) uint8 frames, all the same size.

    Examples
    --------
    >>> states = [np.zeros((4, 3, 2, 2)), np.ones((4, 3, 2, 2))]
    >>> frames = denoising_frames(states, [10, 0], scale=2, pad=1)
    >>> len(frames), frames[0].shape
    (2, (23, 11, 3))
    """
    from diffprob.diffusion.model_range import from_model_range
    from diffprob.sprites.grid import label_rows, make_grid

    if hasattr(trajectory, "trajectory"):
        if timesteps is None:
            timesteps = trajectory.trajectory_timesteps
        trajectory = trajectory.trajectory
    states = list(trajectory)
    if not states:
        raise ParameterError("no frames: sample with trajectory_every > 0 to capture some")
    if timesteps is not None and len(timesteps) != len(states):
        raise ParameterError(f"{len(timesteps)} timesteps for {len(states)} frames")
    n = len(states[0])
    ncols = ncols or math.ceil(math.sqrt(n))
    if row_labels is not None and len(row_labels) != math.ceil(n / ncols):
        raise ParameterError(f"{len(row_labels)} row labels for {math.ceil(n / ncols)} rows")
    frames = []
    for i, state in enumerate(states):
        # States in the middle of sampling exceed [-1, 1]; from_model_range clips them.
        grid = make_grid(from_model_range(state), ncols, scale=scale, pad=pad)
        if row_labels is not None:
            grid = label_rows(grid, row_labels, state.shape[-2] * scale, pad=pad)
        if label and timesteps is not None:
            strip = _label_strip(f"t = {int(timesteps[i])}", grid.shape[1], 12)
            grid = np.concatenate([strip, grid], axis=0)
        frames.append(grid)
    return frames


def save_denoising_gif(
    trajectory,
    path: str | os.PathLike,
    timesteps=None,
    *,
    ncols: int | None = None,
    scale: int = 4,
    pad: int = 1,
    label: bool = True,
    row_labels=None,
    frame_ms: int = 80,
    hold_ms: int = 1500,
    loop: int = 0,
) -> Path:
    """Write the denoising animation of a sampling run as a GIF.

    Parameters
    ----------
    trajectory, timesteps, ncols, scale, pad, label, row_labels
        As in :func:`denoising_frames`.
    path : str or path-like
        Output ``.gif`` file.
    frame_ms : int, optional
        Display time of each frame, in milliseconds.
    hold_ms : int, optional
        Display time of the last frame (the samples), so the loop pauses on them.
    loop : int, optional
        Number of loops (0 = forever).

    Returns
    -------
    Path
        `path`.

    Notes
    -----
    Written with Pillow (``Image.save(save_all=True)``); each frame gets its own
    adaptive 256-colour palette, so noisy frames are quantised but sprite frames
    (few colours) are exact.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> states = [np.random.default_rng(0).normal(size=(4, 3, 8, 8)), np.zeros((4, 3, 8, 8))]
    >>> out = save_denoising_gif(states, pathlib.Path(tempfile.mkdtemp()) / "d.gif", [500, 0])
    >>> from PIL import Image
    >>> Image.open(out).n_frames
    2
    """
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ImageWriteError(f"animation must be a .gif file, got {str(path)!r}")
    for name, value in (("frame_ms", frame_ms), ("hold_ms", hold_ms)):
        if not value >= 1:
            raise ParameterError(f"{name} must be >= 1, got {value}")
    frames = denoising_frames(
        trajectory, timesteps, ncols=ncols, scale=scale, pad=pad, label=label, row_labels=row_labels
    )
    images = [Image.fromarray(f) for f in frames]
    durations = [int(frame_ms)] * (len(images) - 1) + [int(hold_ms)]
    try:
        images[0].save(
            path,
            save_all=True,
            append_images=images[1:],
            duration=durations,
            loop=int(loop),
            disposal=1,
        )
    except OSError as exc:
        raise ImageWriteError(f"cannot write {str(path)!r}: {exc}") from None
    return path
