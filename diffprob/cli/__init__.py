"""The ``diffprob`` command line.

Each verb lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the callable
that runs it. The modules import heavy libraries (torch, matplotlib) inside their
``run`` functions so ``diffprob --help`` and the statistics verbs stay fast.

Conventions: results on stdout, diagnostics on stderr, ``--json`` for machines,
exit 0 on success, 1 on a user error (one line, no traceback), 2 on a usage error,
130 on Ctrl-C. Outputs never overwrite inputs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from diffprob import __version__
from diffprob.errors import DiffprobError

# Order of appearance in ``diffprob --help``.
COMMANDS = [
    "noise",
    "hist",
    "joint",
    "data",
    "forward",
    "train",
    "experts",
    "sample",
    "txt2img",
    "evaluate",
    "classifier",
    "train-vae",
    "train-clip",
    "train-txt2img",
    "demo",
]

EPILOG = """\
examples:
  diffprob noise photo.png --mean 0 --var 0.01 --seed 1
  diffprob hist paintings/ --space hsv --csv palette.csv
  diffprob joint photo.png --x R --y G --given R=128
  diffprob sample --context hero --guidance 2 -o heroes.png
  diffprob txt2img "a red potion" --seed 0 -o potions.png
  diffprob demo --out diffprob-demo

Run 'diffprob COMMAND --help' for the options of one command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffprob",
        description="Measure the probability behind diffusion models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".{name.replace('-', '_')}", __name__)
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if getattr(args, "seed", None) is not None or getattr(args, "draws_seed", False):
            # One rule for every verb: a seed is checked, and a verb that draws one when
            # none is given (set_defaults(draws_seed=True)) reports it, so the run can be
            # repeated. Others (train) read "not given" as None.
            from diffprob.util.seeds import resolve_seed

            args.seed = resolve_seed(args.seed, "--seed")
        status = args.func(args)
    except DiffprobError as exc:
        print(f"diffprob {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`diffprob ... | head`): stop quietly, as Unix tools do.
        # Python would report the failed flush of stdout at exit; point it at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # e.g. an output folder that cannot be written
        print(f"diffprob {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"diffprob {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)
