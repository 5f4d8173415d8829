"""`diffprob classifier`: train or check the sprite classifier used by `diffprob evaluate`."""

from __future__ import annotations

from ._common import (
    add_options,
    add_verb,
    check_range,
    finite_float,
    info,
    option_values,
    output_path,
    positive_int,
    print_json,
)

EPILOG = """\
examples:
  diffprob classifier train --force              # retrain (overwrite) the shipped weights
  diffprob classifier train --steps 300 --n 5000 -o my_classifier.pt
  diffprob classifier train --data sprites.npz --size 16 -o npz_classifier.pt
  diffprob classifier eval                       # held-out accuracy of the shipped weights
  diffprob classifier eval --classifier my_classifier.pt --n-test 2000 --json
"""

DEFAULT_OUTPUT = "data/classifier/sprite_classifier16.pt"


def register(subparsers):
    parser = add_verb(
        subparsers,
        "classifier",
        help="train or check the sprite classifier that evaluation uses",
        description=(
            "The small CNN whose predictions give evaluation's conditional accuracy and "
            "whose penultimate features give its FD and KID (instead of Inception). "
            "'train' fits it on labelled sprites and reports held-out accuracy; 'eval' "
            "measures a saved classifier on held-out sprites."
        ),
        epilog=EPILOG,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    parser.set_defaults(func=_missing_action, parser=parser)

    train = add_verb(
        actions,
        "train",
        help="train a classifier and save its weights",
        description=(
            "Train the sprite classifier. With --data sprites (default) the training "
            "sprites come from the embedded generator with --data-seed and the held-out "
            "test sprites from --data-seed + 1; with a file or folder, a stratified "
            "--test-fraction is held out. An existing weights file (the shipped one by "
            "default) is overwritten only with --force; a run whose loss stops being "
            "finite saves nothing and exits with status 1."
        ),
        epilog=EPILOG,
    )
    _add_data_options(train)
    add = train.add_argument
    # (flag, type, default, help)
    add_options(
        add,
        [
            (
                "--n",
                positive_int,
                20000,
                "training sprites from the generator (default: 20000; files: all)",
            ),
            ("--steps", positive_int, 1500, "optimizer steps (default: 1500)"),
            ("--batch-size", positive_int, 128, "batch size (default: 128)"),
            ("--lr", finite_float, 3e-3, "peak AdamW learning rate (default: 3e-3)"),
            (
                "--width",
                positive_int,
                32,
                "channels of the first conv block, a multiple of 8 (default: 32)",
            ),
            (
                "--feature-dim",
                positive_int,
                64,
                "size of the feature vector used for FD/KID (default: 64)",
            ),
            ("--seed", int, 0, "seed of weights, batches and flips (default: 0)"),
            ("--device", None, "cpu", "auto, cpu, cuda or mps (default: cpu)"),
            ("--threads", positive_int, None, "torch CPU threads (default: torch's choice)"),
        ],
    )
    add(
        "-o",
        "--output",
        metavar="PATH",
        default=None,
        help=f"weights file to write (default: the shipped {DEFAULT_OUTPUT})",
    )
    add("--force", action="store_true", help="overwrite the weights file if it exists")
    add("--json", action="store_true", help="print a JSON summary on stdout")
    train.set_defaults(func=run_train)

    check = add_verb(
        actions,
        "eval",
        help="held-out accuracy of a saved classifier",
        description="Accuracy (overall and per class) of a classifier on held-out sprites.",
        epilog=EPILOG,
    )
    _add_data_options(check)
    check.add_argument(
        "--classifier",
        metavar="PATH",
        default=None,
        help=f"weights file (default: the shipped {DEFAULT_OUTPUT})",
    )
    check.add_argument("--json", action="store_true", help="print JSON on stdout")
    check.set_defaults(func=run_eval)


def _add_data_options(parser):
    add = parser.add_argument
    add(
        "--data",
        default="sprites",
        metavar="SOURCE",
        help="'sprites' (embedded generator, default), an .npz, the course's .npy, or a "
        "folder of class sub-folders",
    )
    add("--size", type=int, default=16, choices=(16, 32), help="image size (default: 16)")
    add(
        "--data-seed",
        type=int,
        default=1,
        help="generator seed of the training sprites; test sprites use seed + 1 (default: 1)",
    )
    add(
        "--n-test",
        type=positive_int,
        default=5000,
        help="held-out test sprites from the generator (default: 5000)",
    )
    add(
        "--test-fraction",
        type=finite_float,
        default=0.1,
        help="fraction held out of a file or folder --data (default: 0.1)",
    )


def _missing_action(args):
    import sys

    args.parser.print_help(sys.stderr)
    return 2


def _split(args, n_train):
    """(train, test) SpriteData following --data, --data-seed, --n-test, --test-fraction."""
    from diffprob.sprites.dataset import load_sprite_data, split_train_test

    check_range("--test-fraction", args.test_fraction, 0.0, 1.0)
    if args.data == "sprites":
        train = None
        if n_train:
            train = load_sprite_data("sprites", n=n_train, size=args.size, seed=args.data_seed)
        test = load_sprite_data("sprites", n=args.n_test, size=args.size, seed=args.data_seed + 1)
        return train, test
    data = load_sprite_data(args.data, size=args.size)
    return split_train_test(data, args.test_fraction, seed=args.data_seed)


def _accuracy_summary(model, test) -> dict:
    import numpy as np

    from diffprob.evaluation.classifier import predict

    pred = predict(model, test.images)
    per_class = {
        name: float((pred[test.labels == c] == c).mean()) if (test.labels == c).any() else None
        for c, name in enumerate(model.class_names)
    }
    confusion = np.zeros((len(model.class_names),) * 2, dtype=np.int64)
    np.add.at(confusion, (test.labels, pred), 1)
    return {
        "accuracy": float((pred == test.labels).mean()),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
        "n_test": len(test),
    }


def _print_summary(summary, class_names):
    print(f"held-out accuracy: {summary['accuracy']:.4f} on {summary['n_test']} sprites")
    for name, acc in summary["per_class_accuracy"].items():
        print(f"  {name:<12} {'-' if acc is None else f'{acc:.4f}'}")
    print("confusion (rows: true class, columns: predicted):")
    for name, row in zip(class_names, summary["confusion"], strict=True):
        print(f"  {name:<12} " + " ".join(f"{v:5d}" for v in row))


def run_train(args):
    import torch

    from diffprob.diffusion.device import resolve_device
    from diffprob.errors import ImageWriteError, ParameterError
    from diffprob.evaluation.classifier import default_classifier_path, save_classifier
    from diffprob.evaluation.classifier_training import train_classifier

    if args.width % 8:
        raise ParameterError(f"--width must be a multiple of 8, got {args.width}")
    if args.lr <= 0:
        raise ParameterError(f"--lr must be > 0, got {args.lr:g}")
    device = resolve_device(args.device)
    target = str(default_classifier_path()) if args.output is None else args.output
    try:
        out = output_path(target, target, inputs=[args.data])
    except OSError as exc:  # its folder cannot be made (a file on the way, no permission)
        if isinstance(exc, ImageWriteError):
            raise
        raise ImageWriteError(f"cannot write {target!r}: {exc.strerror or exc}") from None
    if out.exists() and not args.force:
        shipped = " (the shipped classifier)" if args.output is None else ""
        raise ImageWriteError(f"{str(out)!r}{shipped} exists; pass --force to overwrite it")
    _check_writable(out)  # before minutes of training, not after
    train, test = _split(args, args.n)
    if args.threads:
        torch.set_num_threads(args.threads)
    info(
        f"training on {len(train)} sprites ({train.source}), {args.steps} steps, "
        f"batch {args.batch_size}, device {device}"
    )
    model = train_classifier(
        train,
        **option_values(args, "steps", "seed", "batch_size", "lr", "width", "feature_dim"),
        device=device,
        progress=True,
    )
    summary = _accuracy_summary(model, test)
    metadata = dict(model.train_info)
    metadata.update(
        data_source=train.source,
        test_source=test.source,
        test_accuracy=summary["accuracy"],
        device=str(device),
        torch_version=str(torch.__version__),
    )
    save_classifier(model, out, metadata=metadata)
    result = {"output": str(out), **metadata, **summary}
    if args.json:
        print_json(result)
    else:
        _print_summary(summary, model.class_names)
        print(f"wall time {metadata['wall_time_s']:.1f} s; wrote {out}")
    return 0


def _check_writable(out) -> None:
    """Raise ImageWriteError unless a file can be created in `out`'s folder."""
    import os
    import tempfile

    from diffprob.errors import ImageWriteError

    try:
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ImageWriteError(f"cannot write {str(out)!r}: {reason}") from None
    os.close(fd)
    os.unlink(probe)


def run_eval(args):
    from diffprob.evaluation.classifier import load_classifier

    model = load_classifier(args.classifier)
    if model.image_size != args.size:
        args.size = model.image_size
    _, test = _split(args, 0)
    if tuple(test.class_names) != model.class_names:
        from diffprob.errors import DataError

        raise DataError(
            f"the classifier knows classes {list(model.class_names)}, "
            f"the data {list(test.class_names)}"
        )
    summary = _accuracy_summary(model, test)
    if args.json:
        print_json(
            {"classifier": args.classifier or "shipped", **summary, "train_info": model.train_info}
        )
    else:
        _print_summary(summary, model.class_names)
    return 0
