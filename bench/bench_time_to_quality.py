"""Time to quality: what a training recipe reaches in M minutes of CPU, against another.

Trains each recipe once per budget (``--minutes 2,5,10,15``: one run per budget, each with
its own learning-rate plan, as ``diffprob train --minutes M`` would) on the embedded
sprites, scores every model with ``diffprob.evaluate`` and writes

* ``time_to_quality.csv`` / ``.json`` -- per recipe and budget: steps, seconds, and FD,
  colour TV and joint TV each over the real row's (a second real sample of the same size),
  joint TV over the independent-pixel baseline's, and conditional accuracy;
* ``time_to_quality.png`` -- those four figures against minutes, one line per recipe.

With ``--parallel`` every recipe trains at the same time in its own process on one thread
(``--threads 1``), so a machine loaded by other work hurts all recipes alike; the budgets
are then per-core minutes, a conservative stand-in for a 2-core run. ``--save-models``
keeps each model (``<recipe>_<minutes>min.pt``) for a fuller evaluation afterwards.

The recipes (``RECIPES``) are the candidates of the one-stage default: ``baseline`` is the
first stage of the shipped model's three (epsilon-prediction on the course's linear
schedule), ``vpred_ztsnr`` the same network with v-prediction on a zero-terminal-SNR
schedule from the first step. Each is measured at equal wall-clock, in the same run, so a
loaded machine hurts both alike.

    .venv/bin/python bench/bench_time_to_quality.py --minutes 2,5,10,15 --out runs/ttq
    .venv/bin/python bench/bench_time_to_quality.py --minutes 5,15 --parallel --save-models
    .venv/bin/python bench/bench_time_to_quality.py --minutes 0.2 --n-eval 50 --config tiny  # smoke
    .venv/bin/python bench/bench_time_to_quality.py --plot docs/figures/time_to_quality.json

``--plot`` only draws the figure of a rows file, e.g. the one in ``docs/figures`` whose rows
were gathered from ``diffprob evaluate --seeds 0,1,2`` reports of longer runs (mean, with the
spread over seeds as ``<figure>_sd``).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.train import train
from diffprob.evaluation.evaluate import evaluate
from diffprob.sprites.dataset import load_sprite_data

# name -> (schedule keyword arguments, TrainConfig keyword arguments)
RECIPES = {
    "baseline": ({}, {}),
    "vpred_ztsnr": ({"zero_terminal_snr": True, "prediction_type": "v_prediction"}, {}),
}
METRICS = ("fd", "tv", "joint_tv", "accuracy")


def run_one(recipe: str, minutes: float, args, data) -> dict:
    schedule_kwargs, config_kwargs = RECIPES[recipe]
    schedule = NoiseSchedule(500, **schedule_kwargs)
    config = TrainConfig(minutes=minutes, seed=args.seed, **config_kwargs)
    start = time.perf_counter()
    result = train(data, args.config, config, schedule=schedule, device="cpu", progress=False)
    seconds = time.perf_counter() - start
    if args.save_models:
        result.checkpoint.export_for_inference(Path(args.out) / f"{recipe}_{minutes:g}min.pt")
    model = result.ema_model
    report = evaluate(
        (model.eval(), schedule, data.class_names, data.source),
        n=args.n_eval,
        seed=args.seed,
        n_bootstrap=0,
        kid_subsets=10,
    )
    real, model_row = report.overall["real"], report.overall["model"]
    row = {
        "recipe": recipe,
        "minutes": minutes,
        "steps": int(result.checkpoint.step),
        "train_seconds": round(seconds, 1),
        "accuracy": model_row["accuracy"],
    }
    for key in ("fd", "tv", "joint_tv"):
        row[key] = model_row[key]
        row[f"{key}_over_real"] = model_row[key] / real[key] if real[key] else float("nan")
    row["joint_tv_over_independent"] = (
        model_row["joint_tv"] / report.overall["independent_pixel"]["joint_tv"]
    )
    print(json.dumps(row), flush=True)
    return row


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    panels = (
        ("fd_over_real", "FD / real"),
        ("tv_over_real", "colour TV / real"),
        ("joint_tv_over_independent", "joint TV / independent pixels"),
        ("accuracy", "accuracy"),
    )
    fig = Figure(figsize=(12, 3.2), layout="constrained")
    for ax, (key, label) in zip(fig.subplots(1, len(panels)), panels, strict=True):
        for recipe in dict.fromkeys(r["recipe"] for r in rows):
            mine = [r for r in rows if r["recipe"] == recipe]
            # A row measured over several seeds carries its spread as "<key>_sd".
            spread = [r.get(f"{key}_sd", 0.0) for r in mine]
            ax.errorbar(
                [r["minutes"] for r in mine],
                [r[key] for r in mine],
                yerr=spread,
                fmt="o-",
                capsize=3,
                label=recipe,
            )
        # Budgets and ratios that span decades read on log axes; 1 is the yardstick itself.
        minutes = [r["minutes"] for r in rows]
        if max(minutes) > 20 * min(minutes):
            ax.set_xscale("log")
        if key != "accuracy":
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
            if max(r[key] for r in rows) > 20 * min(r[key] for r in rows):
                ax.set_yscale("log")
        ax.set(xlabel="training minutes (CPU)", title=label)
        ax.grid(alpha=0.3)
    fig.axes[-1].legend(fontsize=8)
    fig.savefig(path, dpi=100)


def run_parallel(recipes: list[str], out: Path) -> list[dict]:
    """Run this script once per recipe at the same time (one thread each); merge their rows."""
    argv = [a for a in sys.argv[1:] if a != "--parallel"]
    procs = []
    for recipe in recipes:
        folder = out / recipe
        cmd = [sys.executable, __file__, *argv, "--recipes", recipe, "--threads", "1"]
        cmd += ["--out", str(folder)]
        procs.append((folder, subprocess.Popen(cmd)))
    rows = []
    for folder, proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"the run in {folder} failed")
        rows += json.loads((folder / "time_to_quality.json").read_text())
    return sorted(rows, key=lambda r: (r["minutes"], recipes.index(r["recipe"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", default="2,5,10,15", help="budgets, comma-separated")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="recipes to compare")
    parser.add_argument("--config", default="sprite", help="U-Net configuration")
    parser.add_argument("--n-data", type=int, default=20000, help="training sprites")
    parser.add_argument("--n-eval", type=int, default=500, help="samples per evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/time_to_quality", help="output folder")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    parser.add_argument(
        "--parallel", action="store_true", help="one process per recipe, one thread each"
    )
    parser.add_argument("--save-models", action="store_true", help="keep every trained model")
    parser.add_argument(
        "--plot",
        metavar="ROWS_JSON",
        help="only draw the figure of a rows file (time_to_quality.json, or rows gathered "
        "from diffprob evaluate --seeds reports) beside it, as .png",
    )
    args = parser.parse_args()
    if args.plot:
        rows_path = Path(args.plot)
        plot(json.loads(rows_path.read_text()), rows_path.with_suffix(".png"))
        print(f"wrote {rows_path.with_suffix('.png')}")
        return
    budgets = [float(m) for m in args.minutes.split(",")]
    recipes = args.recipes.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.parallel:
        rows = run_parallel(recipes, out)
    else:
        if args.threads:
            torch.set_num_threads(args.threads)
        data = load_sprite_data("sprites", n=args.n_data, seed=0)
        # Interleaved by budget, so both recipes see the machine in the same state.
        rows = [run_one(r, m, args, data) for m in budgets for r in recipes]
    with open(out / "time_to_quality.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "time_to_quality.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, out / "time_to_quality.png")
    print(f"wrote {out / 'time_to_quality.csv'} and {out / 'time_to_quality.png'}")


if __name__ == "__main__":
    main()
