"""`diffprob train-clip`: train the text encoder CLIP-style against an image encoder."""

from __future__ import annotations

import argparse

from ._fit import add_fit_arguments, fill_options, fit_config_from_args, run_fit

# The encoders' options: (kind, default); saved with the run for --resume.
OPTIONS = {"width": (int, None), "layers": (int, None)}

EPILOG = """\
examples:
  diffprob train-clip --out runs/clip                  # the shipped text encoder's command
  diffprob train-clip --minutes 5 --out runs/clip5
  diffprob train-clip --out runs/clip --resume         # after Ctrl-C
  diffprob train-clip --steps 20 --width 16 --no-progress --out runs/try-clip

Each step draws fresh sprites with captions from their known attributes ("a red potion",
"a hero with blonde hair in a green tunic", ...). RUN_DIR/model.pt holds both encoders,
the tokenizer and the learned temperature; its metadata has the zero-shot class accuracy
on 1000 held-out sprites. train-txt2img takes its text encoder with --clip.
"""


def register(subparsers):
    from diffprob.stable_diffusion.fit_config import CLIP_FIT

    parser = subparsers.add_parser(
        "train-clip",
        help="train the caption encoder contrastively against sprites (CLIP)",
        description=(
            "Train a small transformer text encoder and a CNN image encoder so that a sprite "
            "and its caption meet in one embedding space: CLIP's symmetric InfoNCE loss over "
            "the batch, with a learned temperature. Captions true of a sprite (known from its "
            "attributes) all count as right for it."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = parser.add_argument_group("encoders")
    model.add_argument("--width", type=int, help="text transformer width (default 64)")
    model.add_argument("--layers", type=int, help="text transformer layers (default 2)")
    add_fit_arguments(parser, CLIP_FIT, "runs/clip")
    parser.set_defaults(func=run)


def run(args):
    from diffprob.diffusion.models.unet import count_parameters
    from diffprob.stable_diffusion.clip_training import CLIPTask, default_text_config
    from diffprob.stable_diffusion.fit_config import CLIP_FIT

    resumed = fill_options(args, OPTIONS)
    overrides = {k: getattr(args, k) for k in ("width", "layers") if getattr(args, k) is not None}
    task = CLIPTask(default_text_config(**overrides))
    config = fit_config_from_args(args, CLIP_FIT)
    length = f"{config.minutes:g} min" if config.minutes else f"{config.steps} steps"
    describe = resumed + [
        f"CLIP: {count_parameters(task.build_model()):,} parameters (text width "
        f"{task.text_config.width}, {task.text_config.layers} layers; vocabulary "
        f"{task.tokenizer.vocab_size} tokens)",
        f"data: fresh captioned generator sprites every step, batch {config.batch_size}; {length}",
    ]
    result = run_fit(task, config, args, describe, OPTIONS)
    return 130 if result.interrupted else 0
