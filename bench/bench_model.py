"""Benchmark the sprite model: training throughput and DDPM vs DDIM sampling time.

Prints, from one run:

1. training images/s of our ``course`` config (n_feat=64, the full diffprob training
   step: q_sample, context dropout, AdamW, grad clipping, EMA) against a faithful
   re-implementation of the course's ContextUnet and training step
   (bench/course_reference.py) at the same width and batch (ratio, target >= 1.0);
2. training images/s of the ``small`` (course network) and ``sprite`` (DDPM network,
   the shipped model) configs at batch 64, in float32 and with bf16 autocast on the
   CPU (``--mixed-precision bf16``): the bf16 / float32 ratio of each;
3. DDPM (all 500 steps) vs DDIM-25 sampling time with the ``sprite`` model
   (ratio, target >= 15x).

Ours and the course's steps alternate (the course's step runs inside our training
loop's per-step callback) so that load from other processes on a shared machine hits
both alike; medians of per-step times are reported, in wall-clock and in CPU time
(the CPU-time figure is the robust one on a busy machine with --threads 1).

    .venv/bin/python bench/bench_model.py [--threads 1] [--rounds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from course_reference import make_course_trainer  # noqa: E402

from diffprob.diffusion.models.unet import build_unet, count_parameters, get_config  # noqa: E402
from diffprob.diffusion.schedule import NoiseSchedule  # noqa: E402
from diffprob.diffusion.training.config import TrainConfig  # noqa: E402
from diffprob.diffusion.training.train import train  # noqa: E402


def _sprites(n, seed=0):
    from diffprob.sprites.classes import CLASSES
    from diffprob.sprites.generator import generate_sprites

    images, labels = generate_sprites(n, seed=seed)
    return SimpleNamespace(images=images, labels=labels, class_names=CLASSES, source="bench")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved_step_times(data, config_name, batch, steps, device, clock):
    """Per-step seconds of our training loop and of the course's step, interleaved.

    Our loop is diffprob.diffusion.training.train.train itself; its per-step callback runs one step
    of the course's trainer, so both see the same machine load, step by step. Our
    step time is the time between callbacks minus the course step inside it.
    """
    _, _, course_step = make_course_trainer(n_feat=64, n_cfeat=5, height=16, device=device)
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
    c = torch.nn.functional.one_hot(torch.as_tensor(data.labels), 5).float().to(device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    ours, course, last = [], [], [None]

    def callback(row):
        _sync(device)
        now = clock()
        if last[0] is not None:
            ours.append(now - last[0])
        i = (row["step"] * batch) % (len(x) - batch)
        idx = order[i : i + batch]
        start = clock()
        course_step(x[idx], c[idx])
        _sync(device)
        course.append(clock() - start)
        last[0] = clock()

    config = TrainConfig(steps=steps + 2, batch_size=batch, warmup_steps=0, checkpoint_every=0)
    train(data, config_name, config, device=device, progress=False, callback=callback)
    return ours[1:], course[2:]  # drop warm-up steps


def ours_images_per_s(data, config_name, batch, steps, device, precision="off") -> float:
    """Wall-clock throughput of diffprob.diffusion.training.train.train over its last `steps` steps."""
    config = TrainConfig(
        steps=2 * steps,
        batch_size=batch,
        warmup_steps=0,
        log_every=steps,
        checkpoint_every=0,
        mixed_precision=precision,
    )
    result = train(data, config_name, config, device=device, progress=False)
    return result.history[-1]["images_per_s"]


def sampling_seconds(model, schedule, n, sampler, steps, device) -> float:
    from diffprob.diffusion.guidance import per_class_context
    from diffprob.diffusion.sampling import sample

    context = per_class_context(5, n // 5)
    start = time.perf_counter()
    sample(
        model,
        schedule,
        len(context),
        sampler=sampler,
        steps=steps,
        context=context,
        generator=torch.Generator().manual_seed(0),
        device=device,
        progress=False,
    )
    _sync(device)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed course-width steps = rounds * steps"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batch", type=int, default=100, help="course batch size (default 100)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round (default 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s)")
    data = _sprites(max(4000, 2 * args.steps * args.batch + 1))

    print(f"\n1. training, course width (n_feat=64), batch {args.batch}, steps interleaved:")
    for label, clock in (("wall", time.perf_counter), ("CPU", time.process_time)):
        ours, course = interleaved_step_times(
            data, "course", args.batch, args.rounds * args.steps, device, clock
        )
        o, c = args.batch / statistics.median(ours), args.batch / statistics.median(course)
        print(
            f"   {label:4s} time: ours {o:6.1f} img/s, course reference {c:6.1f} img/s, "
            f"ratio {o / c:.2f} (target >= 1.0)",
            flush=True,
        )

    print("\n2. training at batch 64, float32 against bf16 autocast (median of 2 runs):")
    for name in ("small", "sprite"):
        cfg = get_config(name)
        n_params = count_parameters(build_unet(cfg))
        fp32, bf16 = (
            statistics.median(
                ours_images_per_s(data, name, 64, 2 * args.steps, device, precision)
                for _ in range(2)
            )
            for precision in ("off", "bf16")
        )
        print(
            f"   {name:6s} ({cfg.architecture} network, {n_params:,} params): float32 "
            f"{fp32:6.1f} img/s, bf16 {bf16:6.1f} img/s, ratio {bf16 / fp32:.2f}",
            flush=True,
        )

    torch.manual_seed(0)
    model = build_unet("sprite").to(device).eval()
    schedule = NoiseSchedule(500)
    n = 20
    sampling_seconds(model, schedule, n, "ddim", 5, device)  # warm-up (kernel set-up)
    ddim = sampling_seconds(model, schedule, n, "ddim", 25, device)
    ddpm = sampling_seconds(model, schedule, n, "ddpm", None, device)
    print(
        f"\n3. sampling {n} images with the sprite model: DDPM-500 {ddpm:.2f} s, "
        f"DDIM-25 {ddim:.2f} s, speed-up {ddpm / ddim:.1f}x (target >= 15x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
