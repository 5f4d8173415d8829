"""`diffprob data`: write the embedded sprite data set (and a preview grid)."""

from __future__ import annotations

from ._common import add_verb

EPILOG = """\
examples:
  diffprob data sprites -n 20000 -o sprites16.npz
  diffprob data sprites -n 5000 -o sprites32.npz --size 32 --seed 7 --preview look.png
  diffprob data sprites -n 100 -o tiny.npz --no-preview --json

The .npz holds images (N, S, S, 3) uint8, labels (N,) int64, class_names and
source; 'diffprob train --data FILE.npz' and diffprob.load_sprite_data read it.
"""


def register(subparsers):
    parser = add_verb(
        subparsers,
        "data",
        help="write the embedded sprite data set (.npz) with a preview grid",
        description="Write labelled data sets for the sprite DDPM.",
        epilog=EPILOG,
    )
    parser.set_defaults(func=_missing_action, data_parser=parser)
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION")
    sprites = add_verb(
        actions,
        "sprites",
        help="generate procedural sprites (hero, creature, food, item, spell)",
        description=(
            "Generate N labelled pixel-art sprites deterministically from a seed, write them "
            "to an .npz and a preview PNG (one row per class, pixels upscaled crisply). "
            "Existing files are never overwritten unless --force is given."
        ),
        epilog=EPILOG,
    )
    sprites.add_argument(
        "-n",
        type=int,
        required=True,
        metavar="N",
        help="number of sprites (>= 1); classes are balanced",
    )
    sprites.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE.npz",
        help="output data set (must end in .npz)",
    )
    sprites.add_argument(
        "--size",
        type=int,
        default=16,
        metavar="S",
        help="sprite size in pixels: 16 (default) or 32 (also 48, 64); "
        "each size is drawn at its own resolution",
    )
    sprites.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="SEED",
        help="random seed; the same seed gives identical files (default 0)",
    )
    sprites.add_argument(
        "--preview", metavar="PNG", help="preview grid path (default: <output stem>_preview.png)"
    )
    sprites.add_argument("--no-preview", action="store_true", help="do not write a preview")
    sprites.add_argument(
        "--force", action="store_true", help="overwrite the output and preview if they exist"
    )
    sprites.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    sprites.set_defaults(func=run)


def _missing_action(args):
    import sys

    args.data_parser.print_help(sys.stderr)
    return 2


def run(args):
    from pathlib import Path

    from diffprob.errors import ParameterError
    from diffprob.sprites.classes import CLASSES
    from diffprob.util.limits import MAX_SPRITES, check_upper

    from ._common import Outputs, info, print_json

    if args.n < 1:
        raise ParameterError(f"-n must be >= 1, got {args.n}")
    # Also bounded in bytes (n x size x size x 3) by load_sprite_data, so that the file
    # it writes can be loaded back.
    check_upper("-n", args.n, MAX_SPRITES, "write several files with different --seed")
    if args.size not in (16, 32, 48, 64):
        raise ParameterError(f"--size must be 16, 32, 48 or 64, got {args.size}")
    out = Path(args.output)
    if out.suffix.lower() != ".npz":
        raise ParameterError(f"output {args.output!r} must end in .npz")
    preview = None
    if not args.no_preview:
        preview = Path(args.preview) if args.preview else out.with_name(f"{out.stem}_preview.png")
        if preview.suffix.lower() != ".png":
            raise ParameterError(f"--preview {str(preview)!r} must end in .png")
        if preview.resolve() == out.resolve():
            raise ParameterError("--preview and the output are the same file")
    # Checked now, written together at the end; --force replaces a file atomically.
    outputs = Outputs(force=args.force)
    out = outputs.add(out)
    if preview is not None:
        preview = outputs.add(preview)

    from diffprob.sprites.dataset import load_sprite_data

    data = load_sprite_data("sprites", n=args.n, size=args.size, seed=args.seed)
    grid = None
    if preview is not None:
        from diffprob.sprites.grid import class_grid

        grid = class_grid(
            data.images, data.labels, data.class_names, ncols=12, scale=max(1, 64 // args.size)
        )
    # everything is validated and computed; now write
    with outputs:
        data.save(outputs.temp(out))
        if grid is not None:
            from diffprob.stats.io import save_image

            save_image(outputs.temp(preview), grid)
    summary = {
        "output": str(out),
        "preview": None if preview is None else str(preview),
        "n": len(data),
        "size": args.size,
        "seed": args.seed,
        "classes": list(CLASSES),
        "class_counts": data.class_counts().tolist(),
    }
    if args.json:
        print_json(summary)
    else:
        counts = ", ".join(
            f"{c}={k}" for c, k in zip(CLASSES, summary["class_counts"], strict=True)
        )
        print(f"wrote {len(data)} sprites ({args.size}x{args.size}) to {out}: {counts}")
        if preview is not None:
            info(f"preview: {preview}")
    return 0
