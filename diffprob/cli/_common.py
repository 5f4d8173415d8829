"""Helpers shared by the command-line verbs: outputs (all or none), JSON, parsers."""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from diffprob.errors import DiffprobError, ImageWriteError, ParameterError
from diffprob.util.jsonable import to_jsonable


def _refuse_input(out: Path, inputs: Iterable) -> None:
    """ImageWriteError if ``out`` names one of ``inputs`` (also through ``..`` or a link)."""
    out_resolved = out.expanduser().resolve()
    for item in inputs:
        src = Path(item).expanduser()
        same = src.resolve() == out_resolved
        if not same and out.exists() and src.exists():
            same = os.path.samefile(src, out)
        if same:
            raise ImageWriteError(f"output {str(out)!r} is an input file; refusing to overwrite it")


def output_path(path: str | os.PathLike | None, default: str, inputs: Iterable = ()) -> Path:
    """Return the output path, refusing one that names any of ``inputs``.

    ``path`` None means ``default`` in the current directory. The parent folder
    is created. Checking before anything is written keeps inputs intact. Verbs
    that write several files use :class:`Outputs`, which writes all or none.
    """
    out = Path(default if path is None else path)
    _refuse_input(out, inputs)
    if out.is_dir():
        raise ImageWriteError(f"output {str(out)!r} is a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _check_writable(path: Path) -> None:
    """ImageWriteError unless a file can be created where ``path`` goes.

    Tried in the nearest folder that exists (the missing ones are made at the
    commit), by creating and removing a file there; nothing is left behind.
    """
    probe = path.expanduser().absolute().parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ImageWriteError(f"cannot write {str(path)!r}: {str(probe)!r} is not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".diffprob-write-test.", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise ImageWriteError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


class Outputs:
    """A verb's output files: every one of them written, or none.

    1. :meth:`add` (or :meth:`add_folder`) each output before any work: it is
       refused if it names an input (also through ``..`` or a link), is a folder,
       exists without ``--force`` (where the verb has that rule), or cannot be
       written (its nearest existing folder is tried). Nothing is created yet.
    2. Inside ``with outputs:`` the writers write to :meth:`temp` (a hidden
       sibling with the same extension, so the format is the final name's),
       or into the staging folder :meth:`temp` gives for an output folder.
    3. Leaving the block normally renames every temporary onto its final name
       (``os.replace``: atomic, an existing file is never half-written).
       Any error or Ctrl-C removes every temporary and every folder the block
       made, leaving the inputs and the files that were there untouched.

    Examples
    --------
    >>> outputs = Outputs(inputs=[src], force=args.force)  # doctest: +SKIP
    >>> out = outputs.add(args.output, "default.png")  # doctest: +SKIP
    >>> result = compute()  # doctest: +SKIP
    >>> with outputs:  # doctest: +SKIP
    ...     save_image(outputs.temp(out), result)
    """

    def __init__(self, inputs: Iterable = (), *, force: bool | None = None):
        # force None: the verb has no --force, an existing file is replaced.
        self._inputs = [Path(p) for p in inputs]
        self._force = force
        self._finals: list[Path] = []
        self._folders: set[Path] = set()  # outputs that are folders
        self._temps: dict[Path, Path] = {}  # final -> temporary
        self._made: list[Path] = []  # folders this run created, outermost first
        self._new: list[Path] = []  # outputs the commit created (none was there)
        self._open = False

    def add(self, path: str | os.PathLike | None, default: str | None = None) -> Path:
        """Check the output file ``path`` (None: ``default``) and return it as a Path."""
        out = Path(default if path is None else path)
        self._check(out)
        if out.is_dir():
            raise ImageWriteError(f"output {str(out)!r} is a directory")
        if self._force is False and out.exists():
            raise ImageWriteError(f"{str(out)!r} exists; pass --force to overwrite it")
        _check_writable(out)
        self._finals.append(out)
        return out

    def add_folder(self, path: str | os.PathLike) -> Path:
        """Check an output folder: existing files in it are kept unless this run replaces them."""
        out = Path(path)
        self._check(out)
        if out.exists() and not out.is_dir():
            raise ImageWriteError(f"{str(out)!r} exists and is not a folder")
        _check_writable(out / "probe")
        self._finals.append(out)
        self._folders.add(out)
        return out

    def _check(self, out: Path) -> None:
        _refuse_input(out, self._inputs)
        key = out.expanduser().resolve()
        if any(key == p.expanduser().resolve() for p in self._finals):
            raise ImageWriteError(f"output {str(out)!r} is named twice")

    def temp(self, path: Path) -> Path:
        """The temporary to write instead of the output ``path`` (its folder is made now)."""
        if not self._open:
            raise RuntimeError("Outputs.temp is for use inside 'with outputs:'")
        if path not in self._finals:
            raise RuntimeError(f"{str(path)!r} was not added to the outputs")
        if path not in self._temps:
            folder = path if path in self._folders else path.parent
            self._make_folder(folder)
            token = secrets.token_hex(4)
            if path in self._folders:
                tmp = path / f".staging.{token}.tmp"
                tmp.mkdir()
            else:
                tmp = path.parent / f".{path.name}.{token}.tmp{path.suffix}"
            self._temps[path] = tmp
        return self._temps[path]

    def _make_folder(self, folder: Path) -> None:
        missing = []
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for item in reversed(missing):
            item.mkdir()
            self._made.append(item)

    def __enter__(self) -> Outputs:
        self._open = True
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        self._open = False
        if exc is None:
            try:
                self._commit()
                return False
            except BaseException:
                self._rollback()
                raise
        text = str(exc)
        for final, tmp in self._temps.items():  # a writer names the temporary it was given
            text = text.replace(str(tmp), str(final))
        self._rollback()
        if isinstance(exc, DiffprobError) and text != str(exc):
            raise type(exc)(text) from None
        return False

    def _commit(self) -> None:
        moves = []  # (temporary, final) per file
        for final, tmp in self._temps.items():
            if final not in self._folders:
                moves.append((tmp, final))
                continue
            for item in sorted(tmp.rglob("*")):  # a folder: what the run wrote into it
                if item.is_file():
                    moves.append((item, final / item.relative_to(tmp)))
        for tmp, final in moves:
            self._make_folder(final.parent)
            existed = final.exists()
            os.replace(tmp, final)
            if not existed:  # a rename that fails later takes the new files back
                self._new.append(final)
        for final, tmp in self._temps.items():
            if final in self._folders:
                shutil.rmtree(tmp, ignore_errors=True)

    def _rollback(self) -> None:
        for final in self._new:
            final.unlink(missing_ok=True)
        for tmp in self._temps.values():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        for folder in reversed(self._made):
            shutil.rmtree(folder, ignore_errors=True)
        self._temps.clear()
        self._made.clear()
        self._new.clear()


def add_verb(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, **kwargs)`` keeping the line breaks of the
    description and of the examples in the epilog."""
    return subparsers.add_parser(
        name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


def add_bins_and_space(parser, *, bins_help: str, space_help: str) -> None:
    """Add --bins (default 256) and --space (default rgb), shared by the histogram verbs."""
    parser.add_argument("--bins", type=int, default=256, help=bins_help)
    parser.add_argument(
        "--space", choices=["rgb", "hsv", "lab", "gray"], default="rgb", help=space_help
    )


def add_alpha_option(parser) -> None:
    """Add --alpha {composite,ignore}, shared by the verbs that count colours."""
    parser.add_argument(
        "--alpha",
        choices=["composite", "ignore"],
        default="composite",
        help="transparent pixels: composite them over white (default), or leave fully "
        "transparent pixels out of every count",
    )


def load_counted_images(paths, alpha: str) -> list:
    """Load ``paths`` for counting; a note on stderr when transparency is composited."""
    from diffprob.stats.io import load_image

    images = [load_image(p, alpha="ignore") for p in paths]
    transparent = sum(int(im.mask[..., 0].sum()) for im in images)
    if alpha == "ignore":
        return images
    if transparent:
        total = sum(im.shape[0] * im.shape[1] for im in images)
        info(
            f"note: {transparent:,} of {total:,} pixels ({transparent / total:.1%}) are fully "
            "transparent and count as white; --alpha ignore leaves them out"
        )
    return [im.data for im in images]


def inputs_label(paths) -> str:
    """How summaries and figure titles name the inputs: the file name, or "N images"."""
    return paths[0].name if len(paths) == 1 else f"{len(paths)} images"


def print_json(obj) -> None:
    """Print ``obj`` (numpy values allowed) as JSON on stdout."""
    json.dump(to_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def info(message: str) -> None:
    """A diagnostic line on stderr (results go to stdout)."""
    print(message, file=sys.stderr)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def check_range(name: str, value, low=None, high=None) -> None:
    """Raise ParameterError unless low <= value <= high."""
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ParameterError(f"{name} must be in {bounds}, got {value}")


def add_sampling_arguments(add) -> None:
    """Add --ckpt, --sampler, --steps, --eta and --guidance, shared by the sampling verbs.

    ``add`` is a parser's (or argument group's) ``add_argument``. Ranges that depend on
    the checkpoint (steps <= T) are checked later, by :func:`sampler_config_from_args`
    and the sampler itself, so that a bad value is a one-line error rather than usage.
    """
    add(
        "--ckpt",
        metavar="CKPT",
        default=None,
        help="checkpoint file (default: the shipped data/checkpoints/sprites16.pt)",
    )
    add(
        "--sampler",
        choices=("dpmpp-2m", "ddim", "ddpm"),
        default=None,
        help="dpmpp-2m (default: DPM-Solver++(2M), second order, deterministic; ddim with "
        "--inpaint), ddim (DDIM, few steps, --eta adds noise) or ddpm (ancestral, all T steps)",
    )
    add(
        "--steps",
        type=int,
        default=None,
        help="DDIM or DPM-Solver steps, 1..T (default: 25); DDPM always takes T steps",
    )
    add(
        "--spacing",
        choices=("uniform", "quadratic"),
        default=None,
        help="timesteps of ddim and dpmpp-2m: uniform or quadratic, denser at small t (Song "
        "et al. 2021); default quadratic for dpmpp-2m, uniform for ddim",
    )
    add(
        "--eta",
        type=finite_float,
        default=0.0,
        help="DDIM noise scale in [0, 1]: 0 deterministic (default), 1 DDPM-like",
    )
    add(
        "--guidance",
        type=finite_float,
        default=None,
        metavar="W",
        help="classifier-free guidance weight w >= 0; 0 = plain conditional "
        "(default: diffprob.diffusion.samplers.config.DEFAULT_GUIDANCE = 0)",
    )


def sampler_config_from_args(args, base=None):
    """The :class:`~diffprob.diffusion.samplers.config.SamplerConfig` of a verb's options.

    Built from every setting the verb has as an option (``--sampler``, ``--steps``,
    ``--spacing``, ``--eta``, ``--guidance``, and ``--no-clip`` or ``--variance`` where
    the verb offers them); the others keep the defaults of `base` (default:
    ``SamplerConfig()``). The config checks them, with the same words as the API.
    """
    import re

    from diffprob.diffusion.samplers.config import SamplerConfig

    names = [name for name in SamplerConfig.field_names() if hasattr(args, name)]
    # Options left at None (--sampler, --spacing) take the config's defaults.
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    try:
        return SamplerConfig.from_options(base, **given)
    except ParameterError as exc:
        # The config names its settings; on the command line they are flags.
        flags = "|".join(names)
        raise ParameterError(re.sub(rf"(?<![-\w])({flags})\b", r"--\1", str(exc))) from None


def add_options(add, rows) -> None:
    """Add options given as rows ``(flag, type, default, help[, metavar])``, in order.

    ``add`` is a parser's ``add_argument``; ``type`` None keeps the value a string.
    A verb with many plain options lists them as one table instead of one call each.
    """
    for flag, kind, default, help_text, *metavar in rows:
        add(flag, type=kind, default=default, help=help_text, metavar=(metavar or [None])[0])


def option_values(args, *names: str) -> dict:
    """``{name: args.name}`` for `names`: options passed on as keyword arguments."""
    return {name: getattr(args, name) for name in names}
