"""Benchmark the statistics half against its references; prints a table of ratios.

    python bench/bench_stats.py [--repeat N]

Two workloads: a synthetic 12-megapixel photograph (4000 x 3000, made by
diffprob.stats.example_image.make_sample_image, no download) and a batch of 1,000 16x16
sprites (diffprob.sprites.generator.generate_sprites when available, else random pixels).
Each time is the best of N runs (timeit), ours and the reference alternating. Targets, from issue 2:

* channel histograms <= 1.2x the time of cv2.calcHist (3 channels);
* joint histogram >= 50x faster than np.histogram2d;
* Gaussian noise >= 2x faster than skimage.util.random_noise.
"""

from __future__ import annotations

import argparse
import platform
import timeit

import cv2
import numpy as np
from skimage.util import random_noise

from diffprob.stats.example_image import make_sample_image
from diffprob.stats.histograms import channel_histograms
from diffprob.stats.joint import joint_histogram
from diffprob.stats.noise import add_gaussian_noise


def best_pair(ours, ref, repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` times of both, run alternately so load drift hits both alike."""
    ours(), ref()  # warm-up: imports, caches, thread pool
    t_ours, t_ref = [], []
    for _ in range(repeat):
        t_ours.append(timeit.timeit(ours, number=1))
        t_ref.append(timeit.timeit(ref, number=1))
    return min(t_ours), min(t_ref)


def sprites(n: int = 1000) -> tuple[np.ndarray, str]:
    try:
        from diffprob.sprites.generator import generate_sprites

        return generate_sprites(n, size=16, seed=0)[0], "generate_sprites"
    except Exception:  # the data half may not exist yet: any uint8 batch will do
        return np.random.default_rng(0).integers(0, 256, (n, 16, 16, 3), np.uint8), "random"


def cases(image: np.ndarray, repeat: int):
    """(task, ours, reference name, reference, target, kind) for one workload."""
    flat = image.reshape(-1, image.shape[-2], 3) if image.ndim == 4 else image
    r, g = flat[..., 0].ravel(), flat[..., 1].ravel()
    rng = np.random.default_rng(0)
    return [
        (
            "channel histograms",
            lambda: channel_histograms(image),
            "cv2.calcHist x3",
            lambda: [cv2.calcHist([flat], [c], None, [256], [0, 256]) for c in range(3)],
            1.2,
            "max",
        ),
        (
            "channel histograms",
            lambda: channel_histograms(image),
            "np.histogram x3",
            lambda: [np.histogram(flat[..., c], 256, (0, 256)) for c in range(3)],
            None,
            None,
        ),
        (
            "joint R-G",
            lambda: joint_histogram(image, "R", "G"),
            "np.histogram2d",
            lambda: np.histogram2d(r, g, 256, [[0, 256], [0, 256]]),
            1 / 50,
            "max",
        ),
        (
            "joint R-G",
            lambda: joint_histogram(image, "R", "G"),
            "cv2.calcHist 2-D",
            lambda: cv2.calcHist([flat], [0, 1], None, [256, 256], [0, 256, 0, 256]),
            None,
            None,
        ),
        (
            "gaussian noise",
            lambda: add_gaussian_noise(image, 0.0, 0.01, rng=rng),
            "skimage random_noise",
            lambda: random_noise(image, mode="gaussian", var=0.01, rng=rng),
            1 / 2,
            "max",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (best is kept)")
    args = parser.parse_args()

    photo = make_sample_image(3000, 4000, seed=0)
    batch, source = sprites()
    print(
        f"numpy {np.__version__}, OpenCV {cv2.__version__}, {platform.machine()}, "
        f"{cv2.getNumThreads()} OpenCV threads; best of {args.repeat}"
    )
    header = (
        f"{'workload':<22}{'task':<20}{'reference':<22}{'ours ms':>10}{'ref ms':>10}"
        f"{'ours/ref':>10}  target"
    )
    print(header)
    print("-" * len(header))
    failures = []
    for label, image in (("photo 4000x3000", photo), (f"1000 sprites ({source})", batch)):
        for task, ours, ref_name, ref, target, _ in cases(image, args.repeat):
            t_ours, t_ref = best_pair(ours, ref, args.repeat)
            ratio = t_ours / t_ref
            if target is None:
                verdict = ""
            else:
                ok = ratio <= target
                verdict = f"<= {target:.3g}  {'ok' if ok else 'MISSED'}"
                if not ok:
                    failures.append(f"{label}: {task} vs {ref_name}")
            print(
                f"{label:<22}{task:<20}{ref_name:<22}{t_ours * 1e3:>10.2f}{t_ref * 1e3:>10.2f}"
                f"{ratio:>10.3f}  {verdict}  ({1 / ratio:.1f}x faster)"
            )
    print()
    print(
        "targets: histograms <= 1.2x calcHist; joint >= 50x faster than histogram2d "
        "(ratio <= 0.02); noise >= 2x faster than skimage (ratio <= 0.5)"
    )
    print("missed: " + ("; ".join(failures) if failures else "none"))


if __name__ == "__main__":
    main()
