"""`diffprob evaluate`: score a trained model against held-out sprites and baselines."""

from __future__ import annotations

import json

from ._common import (
    Outputs,
    add_options,
    add_sampling_arguments,
    add_verb,
    check_range,
    info,
    option_values,
    positive_int,
    print_json,
    sampler_config_from_args,
)

EPILOG = """\
examples:
  diffprob evaluate                                   # the shipped checkpoint, n = 500
  diffprob evaluate --ckpt runs/try/model.pt --guidance 2 -o report.json
  diffprob evaluate --n 2000 --sampler ddim --steps 50 --seed 1 --json
  diffprob evaluate --sampler ddpm --n 100 --device cuda
  diffprob evaluate --seeds 0,1,2 -o seeds.json       # mean ± sd over seeds, ratios to real
  diffprob evaluate --ckpt course.pt --reference heldout.npz --train-data train.npz \\
      --classifier course_classifier.pt
  diffprob evaluate --ckpt data/checkpoints/txt2img.pt  # text-to-sprite: + prompt faithfulness
  diffprob evaluate --compare data/checkpoints/sprites16.pt data/checkpoints/txt2img.pt
"""


def register(subparsers):
    from diffprob.evaluation.evaluate import DEFAULT_N

    parser = add_verb(
        subparsers,
        "evaluate",
        help="score a model's samples against held-out sprites and baselines",
        description=(
            "Sample from a model (n split evenly over its classes) and compare the samples "
            "with held-out real sprites: per-channel colour PMF distances (TV, JS in bits, "
            "W1), joint-channel histogram TV (R-G, G-B, R-B), the sprite classifier's "
            "conditional accuracy, Frechet distance and KID on its features, and the "
            "distance of each sample to its nearest training sprite. The same metrics are "
            "computed for a second real sample of the same size (what sampling noise alone "
            "gives), an independent-pixel model and pure noise, each against a large "
            "reference set. Every headline figure has a bootstrap interval. FD is biased "
            "upward at small n (compare it with the 'real' row); KID is unbiased. "
            "A text-to-sprite pipeline (--ckpt txt2img.pt) is prompted with class prompts "
            "('a hero', ...) and also judged for prompt faithfulness on 'a <colour> <noun>' "
            "prompts: class, colour and shape-variant accuracy, beside real sprites drawn "
            "to match each prompt. --compare evaluates several models with the same "
            "settings and prints their quality and sampling time in one table."
        ),
        epilog=EPILOG,
    )
    add = parser.add_argument
    add_sampling_arguments(add)
    # (flag, type, default, help[, metavar]); the bins are checked against 256 in run.
    add_options(
        add,
        [
            (
                "--n",
                positive_int,
                DEFAULT_N,
                f"number of samples, split evenly over classes (default: {DEFAULT_N})",
            ),
            (
                "--seed",
                int,
                0,
                "seeds sampling, held-out sprites, baselines, KID subsets and the bootstrap "
                "(default: 0)",
            ),
            (
                "--seeds",
                None,
                None,
                "run once per seed, e.g. 0,1,2, and report mean ± standard deviation and "
                "each group's ratio to the real row (replaces --seed)",
                "S,S,...",
            ),
            (
                "--n-reference",
                positive_int,
                None,
                "held-out sprites every group is compared with (default: 5000 from the "
                "generator, or all that --reference leaves)",
            ),
            (
                "--bootstrap",
                int,
                200,
                "bootstrap resamples for the intervals, 0 for none (default: 200)",
            ),
            ("--device", None, "cpu", "auto, cpu, cuda or mps (default: cpu)"),
            ("--batch-size", positive_int, 500, "samples drawn per sampler call (default: 500)"),
            (
                "--classifier",
                None,
                None,
                "sprite classifier weights (default: data/classifier/sprite_classifier16.pt)",
                "PATH",
            ),
            (
                "--reference",
                None,
                None,
                "held-out real sprites (.npz, course .npy or folder); default: fresh sprites "
                "from the embedded generator when the model was trained on it",
                "SOURCE",
            ),
            (
                "--train-data",
                None,
                None,
                "the model's training set, for memorisation distances and the "
                "independent-pixel baseline; default: rebuilt from the checkpoint's data source",
                "SOURCE",
            ),
            (
                "--pmf-bins",
                positive_int,
                32,
                "bins of the per-channel colour PMFs, 1..256 (default: 32, 8 levels each; "
                "256 counts a colour a few levels off the palette as a different colour)",
            ),
            (
                "--joint-bins",
                positive_int,
                32,
                "bins per axis of the joint-channel histograms, 1..256 (default: 32)",
            ),
            (
                "--n-faithfulness",
                int,
                None,
                "text-to-sprite model: 'a <colour> <noun>' prompts judged for faithfulness, "
                "0 for none (default: --n)",
            ),
        ],
    )
    add(
        "--compare",
        nargs="+",
        metavar="CKPT",
        default=None,
        help="evaluate each of these checkpoints (pixel or text-to-sprite) with the same "
        "settings and print one comparison table (replaces --ckpt)",
    )
    add("--per-class", action="store_true", help="also print one table per class")
    add("--json", action="store_true", help="print the full report as JSON on stdout")
    add(
        "-o",
        "--output",
        metavar="REPORT.json",
        default=None,
        help="also write the full report as JSON to this file",
    )
    parser.set_defaults(func=run)


def run(args):
    from diffprob.errors import ParameterError
    from diffprob.evaluation.seeds import parse_seeds
    from diffprob.util.limits import MAX_BATCH, MAX_SAMPLES, check_upper

    seeds = None if args.seeds is None else parse_seeds(args.seeds)
    check_range("--bootstrap", args.bootstrap, 0, MAX_SAMPLES)
    check_upper("--n", args.n, MAX_SAMPLES, "split the run over --seeds")
    if args.n_reference is not None:
        check_upper("--n-reference", args.n_reference, MAX_SAMPLES)
    if args.n_faithfulness is not None:
        check_range("--n-faithfulness", args.n_faithfulness, 0, MAX_SAMPLES)
    check_upper("--batch-size", args.batch_size, MAX_BATCH)
    check_range("--pmf-bins", args.pmf_bins, 1, 256)
    check_range("--joint-bins", args.joint_bins, 1, 256)
    if args.compare is not None and args.ckpt is not None:
        raise ParameterError("give --ckpt or --compare, not both")
    if args.compare is not None and len(set(args.compare)) != len(args.compare):
        raise ParameterError("--compare: each checkpoint once")
    sampler_config_from_args(args)  # a bad sampler option fails before any loading
    paths = _paths(args)
    # -o is checked before minutes of evaluation, and written at the end.
    inputs = [p for p in (*paths, args.reference, args.train_data, args.classifier) if p]
    outputs = Outputs(inputs=inputs)
    out = None if args.output is None else outputs.add(args.output)
    reports = {str(path): _evaluate_one(args, path, seeds) for path in paths}
    if args.compare is None:
        (report,) = reports.values()
        result = report.to_dict()
        text = report.table(per_class=args.per_class) if seeds is None else report.table()
    else:
        from diffprob.evaluation.compare import compare_models

        comparison = compare_models(reports)
        result = {
            "comparison": comparison.to_dict(),
            "models": {label: r.to_dict() for label, r in reports.items()},
        }
        text = comparison.table()
    if out is not None:
        with outputs:
            outputs.temp(out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print_json(result)
    else:
        print(text)
    singles = [r for report in reports.values() for r in getattr(report, "reports", [report])]
    timing = {k: sum(r.timings.get(k, 0.0) for r in singles) for k in ("sampling_s", "total_s")}
    info(
        f"sampling {timing['sampling_s']:.1f} s, total {timing['total_s']:.1f} s"
        + (f"; wrote {out}" if out is not None else "")
    )
    return 0


def _paths(args) -> list:
    from diffprob.diffusion.checkpoint import resolve_checkpoint_path

    if args.compare is None:
        return [resolve_checkpoint_path(args.ckpt)]
    return [resolve_checkpoint_path(p) for p in args.compare]


def _evaluate_one(args, path, seeds):
    """The EvaluationReport (or SeedsReport) of one checkpoint file, pixel or text-to-sprite."""
    from diffprob.diffusion.device import resolve_device
    from diffprob.diffusion.samplers.config import SamplerConfig
    from diffprob.errors import CheckpointError
    from diffprob.evaluation.evaluate import evaluate, load_model_file
    from diffprob.evaluation.seeds import evaluate_seeds

    device = resolve_device(args.device)
    model = load_model_file(path)
    if hasattr(model, "schedule_config"):  # a pixel Checkpoint
        schedule_t = int(model.schedule_config.get("num_timesteps", 0) or 0)
        size, base = model.image_size, None
    else:  # a text-to-sprite pipeline: its own guidance unless --guidance is given
        schedule_t = int(model.schedule.num_timesteps)
        size, base = model.vae.config.image_size, SamplerConfig(guidance=model.guidance)
    config = sampler_config_from_args(args, base)
    if args.sampler == "ddpm" and args.steps not in (None, schedule_t):
        raise CheckpointError(
            f"--steps {args.steps}: DDPM always takes all T = {schedule_t} steps; drop --steps"
        )
    if args.steps is not None and schedule_t:
        check_range("--steps", args.steps, 1, schedule_t)
    options = dict(
        config=config,
        **option_values(args, "n", "classifier", "pmf_bins", "joint_bins", "batch_size"),
        n_reference=args.n_reference,
        n_bootstrap=args.bootstrap,
        n_faithfulness=args.n_faithfulness,
        reference=_load(args.reference, size),
        train=_load(args.train_data, size),
        device=device,
        progress=True,
    )
    if seeds is None:
        report = evaluate(model, seed=args.seed, **options)
        singles = [report]
    else:
        report = evaluate_seeds(model, seeds=seeds, **options)
        singles = report.reports
    for single in singles:
        single.settings["checkpoint"] = str(path)
    return report


def _load(source, size):
    if source is None:
        return None
    from diffprob.sprites.dataset import load_sprite_data

    return load_sprite_data(source, size=size)
