"""`diffprob experts`: store low-noise experts inside a base checkpoint."""

from __future__ import annotations

import argparse

from ._common import Outputs, info, positive_int, print_json

EPILOG = """\
examples:
  diffprob train --init-from runs/base/model.pt --zero-terminal-snr \\
      --prediction-type v_prediction --t-max 20 --steps 16000 --lr 2e-4 --out runs/low
  diffprob experts runs/base/model.pt runs/low/model.pt -o runs/with_expert.pt
  diffprob sample --ckpt runs/with_expert.pt -o grid.png

Each expert answers for t <= its t_max (default: the --t-max it was trained with), the base
network for the rest. The output loads like any checkpoint; every command and
diffprob.load_model use the experts, and load_model(..., experts=False) the base alone.
"""


def register(subparsers):
    parser = subparsers.add_parser(
        "experts",
        help="combine a base checkpoint with low-noise experts (eDiff-I style)",
        description=(
            "Write one checkpoint holding a base model and experts fine-tuned from it on the "
            "low timesteps (diffprob train --t-max): at sampling time each timestep goes to "
            "the expert trained for it (Balaji et al. 2022, eDiff-I). The inputs are checked "
            "to share model, schedule, classes and data, and are never overwritten."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", metavar="BASE.pt", help="checkpoint of the base model")
    parser.add_argument(
        "experts", nargs="+", metavar="EXPERT.pt", help="checkpoints trained with --t-max"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT.pt", help="the combined checkpoint"
    )
    parser.add_argument(
        "--t-max",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="T",
        help="timestep up to which each expert answers, one per expert "
        "(default: the t_max each was trained with; never more)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing OUT.pt")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.set_defaults(func=run)


def run(args) -> int:
    from diffprob.diffusion.checkpoint import Checkpoint
    from diffprob.diffusion.models.experts import add_experts

    # Checked now, nothing created until the combined checkpoint is written.
    outputs = Outputs(inputs=[args.base, *args.experts], force=args.force)
    out = outputs.add(args.output)
    base = Checkpoint.load(args.base)
    experts = [Checkpoint.load(path) for path in args.experts]
    combined = add_experts(base, experts, t_max=args.t_max)
    with outputs:
        combined.save(outputs.temp(out))
    summary = {
        "output": str(out),
        "bytes": out.stat().st_size,
        "base": args.base,
        "experts": [
            {"path": path, "t_max": entry["t_max"], "step": entry["step"]}
            for path, entry in zip(args.experts, combined.experts, strict=True)
        ],
    }
    if args.json:
        print_json(summary)
    else:
        ranges = ", ".join(f"t <= {entry['t_max']}" for entry in combined.experts)
        info(f"wrote {out} ({summary['bytes'] / 1e6:.1f} MB): base + experts for {ranges}")
    return 0
