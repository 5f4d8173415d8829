"""`diffprob demo`: write a folder of figures from the shipped sample image.

The demo is a list of steps, :data:`STEPS`. Each step takes the
:class:`DemoContext` and returns the paths of the files it wrote; ``run``
prints one line per file. Later halves add their steps by appending to
:data:`STEPS` (``@demo_step``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ._common import Outputs, add_verb, info

EPILOG = """\
examples:
  diffprob demo
  diffprob demo --out figures/
"""

NOISE_MEAN = 0.0
NOISE_VAR = 0.01
SEED = 0


@dataclass
class DemoContext:
    """What every demo step gets: the output folder, the sample image, a seed."""

    out: Path  # where steps write: a staging folder, moved into --out when all succeed
    image: object  # RGB uint8 ndarray (imported lazily)
    seed: int = SEED
    shared: dict = field(default_factory=dict)  # results steps pass on to later steps


STEPS: list[Callable[[DemoContext], list[Path]]] = []


def demo_step(func: Callable[[DemoContext], list[Path]]):
    """Append ``func`` to :data:`STEPS` (decorator)."""
    STEPS.append(func)
    return func


def _save(fig, path: Path) -> Path:
    from diffprob.plot.statistics import save_figure

    save_figure(fig, path)
    return path


@demo_step
def noise_step(ctx: DemoContext) -> list[Path]:
    """Original, noisy image and the noise distribution it drew."""
    from diffprob.plot.statistics import plot_noise_distribution, plot_noisy_pair
    from diffprob.stats.io import save_image, to_uint8
    from diffprob.stats.noise import add_gaussian_noise

    noisy = to_uint8(add_gaussian_noise(ctx.image, NOISE_MEAN, NOISE_VAR, rng=ctx.seed).image)
    ctx.shared["noisy"] = noisy
    paths = [ctx.out / "original.png", ctx.out / "noisy.png"]
    save_image(paths[0], ctx.image)
    save_image(paths[1], noisy)
    paths.append(
        _save(
            plot_noisy_pair(ctx.image, noisy, mean=NOISE_MEAN, var=NOISE_VAR),
            ctx.out / "noisy_pair.png",
        )
    )
    paths.append(
        _save(
            plot_noise_distribution(ctx.image, NOISE_MEAN, NOISE_VAR, noisy=noisy),
            ctx.out / "noise_distribution.png",
        )
    )
    # One dark pixel value: a third of its noise is clipped onto 0.
    paths.append(
        _save(plot_noise_distribution(10, NOISE_MEAN, NOISE_VAR), ctx.out / "noise_pmf_pixel10.png")
    )
    return paths


@demo_step
def histogram_step(ctx: DemoContext) -> list[Path]:
    """Per-channel PMF/CDF in RGB and HSV, and clean vs noisy compared."""
    from diffprob.plot.statistics import plot_channel_histograms, plot_channel_pmfs_compare
    from diffprob.stats.histograms import channel_histograms

    paths = []
    for space in ("rgb", "hsv"):
        h = channel_histograms(ctx.image, space=space)
        paths.append(_save(plot_channel_histograms(h), ctx.out / f"hist_{space}.png"))
    clean = channel_histograms(ctx.image, bins=64)
    noisy = channel_histograms(ctx.shared["noisy"], bins=64) if "noisy" in ctx.shared else clean
    fig = plot_channel_pmfs_compare({"clean": clean, f"noisy (var={NOISE_VAR:g})": noisy})
    paths.append(_save(fig, ctx.out / "hist_clean_vs_noisy.png"))
    return paths


@demo_step
def joint_step(ctx: DemoContext) -> list[Path]:
    """Joint R-G (linear and log) and P(G | R = v) for a few v."""
    from diffprob.plot.statistics import plot_conditionals, plot_joint_histogram
    from diffprob.stats.joint import joint_histogram

    joint = joint_histogram(ctx.image, "R", "G", bins=64)
    return [
        _save(plot_joint_histogram(joint, log=True), ctx.out / "joint_RG_log.png"),
        _save(plot_joint_histogram(joint, log=False), ctx.out / "joint_RG_linear.png"),
        _save(plot_conditionals(joint, [50, 100, 150, 220]), ctx.out / "conditional_G_given_R.png"),
    ]


# The model half: the shipped checkpoint sampled on the CPU. Sizes keep the whole demo to
# about a minute on a laptop; `diffprob sample` and `diffprob evaluate` go further.
SAMPLES_PER_CLASS = 8
EVALUATION_N = 100


@demo_step
def samples_step(ctx: DemoContext) -> list[Path]:
    """A per-class sample grid from the shipped model and its denoising animation."""
    from diffprob.diffusion.checkpoint import load_model
    from diffprob.diffusion.guidance import per_class_context
    from diffprob.diffusion.model_range import from_model_range
    from diffprob.diffusion.sampling import sample
    from diffprob.plot.animation import save_denoising_gif
    from diffprob.sprites.grid import class_grid
    from diffprob.stats.io import save_image

    model, schedule, class_names = load_model()
    result = sample(
        model,
        schedule,
        SAMPLES_PER_CLASS * len(class_names),
        context=per_class_context(len(class_names), SAMPLES_PER_CLASS),
        generator=ctx.seed,
        trajectory_every=1,
        progress=False,
    )
    images = from_model_range(result.images)
    labels = result.context.argmax(dim=1).numpy()
    grid_path = ctx.out / "samples_per_class.png"
    save_image(grid_path, class_grid(images, labels, class_names, ncols=SAMPLES_PER_CLASS))
    gif_path = save_denoising_gif(
        result.trajectory,
        ctx.out / "denoising.gif",
        result.trajectory_timesteps,
        ncols=SAMPLES_PER_CLASS,
        row_labels=class_names,
    )
    return [grid_path, gif_path]


@demo_step
def evaluation_step(ctx: DemoContext) -> list[Path]:
    """The shipped model scored against held-out sprites and the baselines."""
    from diffprob.evaluation.evaluate import evaluate

    report = evaluate(None, n=EVALUATION_N, seed=ctx.seed)  # None: the shipped checkpoint
    table_path = ctx.out / "evaluation.txt"
    table_path.write_text(
        f"diffprob evaluate, n={EVALUATION_N} (small: see 'diffprob evaluate --help')\n"
        + report.table()
        + "\n"
    )
    json_path = ctx.out / "evaluation.json"
    json_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return [table_path, json_path]


def register(subparsers):
    parser = add_verb(
        subparsers,
        "demo",
        help="write a folder of figures from the sample image",
        description=(
            "Run every analysis on the sample image that ships in data/ (or an identical "
            "procedurally generated one) and write the figures to a folder: noise and its "
            "8-bit distribution, channel PMFs/CDFs, joint and conditional histograms; then "
            "sample the shipped sprite model (a grid per class, a denoising GIF) and score "
            "it against held-out sprites and baselines (evaluation.txt/.json)."
        ),
        epilog=EPILOG,
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="diffprob-demo",
        help="folder for the figures, created if needed (default: diffprob-demo)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from diffprob.errors import ImageWriteError
    from diffprob.stats.example_image import sample_image

    if not args.out.strip():
        raise ImageWriteError("--out is empty; name a folder for the figures")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ImageWriteError(f"--out {str(out)!r} exists and is not a folder")
    outputs = Outputs()
    out = outputs.add_folder(out)
    written = []
    # The steps write into a staging folder inside --out; its files move into --out
    # only when every step has succeeded (a failure leaves --out as it was).
    with outputs:
        staging = outputs.temp(out)
        ctx = DemoContext(out=staging, image=sample_image())
        for step in STEPS:
            start = time.perf_counter()
            written += [out / Path(path).relative_to(staging) for path in step(ctx)]
            info(f"  ({step.__name__}: {time.perf_counter() - start:.1f} s)")
    for path in written:
        print(path)
    return 0
