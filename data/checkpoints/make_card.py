"""Write the model card ``sprites16_small.md`` from the checkpoint and a guidance sweep.

Run from the repository root after evaluating the shipped checkpoint at w = 0..3::

    for w in 0 1 2 3; do
        diffprob evaluate --guidance $w --per-class -o runs/card/w$w.json
    done
    python data/checkpoints/make_card.py runs/card

Every number in the card is read from the checkpoint or from those JSON reports; only the
training story (how the run was stopped and resumed) is prose kept here.
"""

import argparse
import json
from pathlib import Path

from diffprob.checkpoint import Checkpoint

HERE = Path(__file__).resolve().parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("eval_dir", type=Path, help="folder holding w0.json .. w3.json")
args = parser.parse_args()

ckpt = Checkpoint.load(HERE / "sprites16_small.pt")
meta = ckpt.metadata
ev = {w: json.loads((args.eval_dir / f"w{w}.json").read_text()) for w in (0, 1, 2, 3)}
M = {w: ev[w]["overall"]["model"] for w in ev}
# the default guidance: full accuracy first, then the lowest feature FD
best = min((1, 2, 3, 0), key=lambda w: (-M[w]["accuracy"], M[w]["fd"]))
D = ev[best]["overall"]
steps = ckpt.step
bs = ckpt.train_config["batch_size"]
minutes = meta["train_seconds"] / 60
final_loss = meta["loss_history"][-1]["loss"]
loss_window = meta["loss_history"][-1]["step"] - meta["loss_history"][-2]["step"]


# Earlier snapshots of the same run, scored with the same command (w = 1) before they were
# replaced; kept so the card shows how the metrics move with training.
EARLIER = [
    {"step": 10_000, "accuracy": 1.000, "fd": 0.644, "tv": 0.172, "joint_tv": 0.369, "w1": 1.195},
    {"step": 16_000, "accuracy": 1.000, "fd": 0.617, "tv": 0.162, "joint_tv": 0.355, "w1": 1.173},
]


def f(x, nd=3):
    return f"{x:.{nd}f}"


sweep = "\n".join(
    (
        "| **{w} (default)** | **{a}** | **{fd}** | **{kid}** | **{tv}** | **{w1}** | **{jt}** | **{nn}** |"
        if w == best
        else "| {w} | {a} | {fd} | {kid} | {tv} | {w1} | {jt} | {nn} |"
    ).format(
        w=w,
        a=f(M[w]["accuracy"]),
        fd=f(M[w]["fd"]),
        kid=f(M[w]["kid"]),
        tv=f(M[w]["tv"]),
        w1=f(M[w]["w1"], 2),
        jt=f(M[w]["joint_tv"]),
        nn=f(M[w]["nn_train"]),
    )
    for w in (0, 1, 2, 3)
)
names = {
    "model": "model",
    "real": "real (floor)",
    "independent_pixel": "independent pixels",
    "noise": "pure noise",
}
groups = "\n".join(
    f"| {names[g]} | {f(D[g]['tv'])} | {f(D[g]['js_bits'])} | {f(D[g]['w1'], 2)} | {f(D[g]['joint_tv'])} | "
    f"{f(D[g]['accuracy'])} | {f(D[g]['fd'])} | {f(D[g]['kid'])} | {f(D[g]['nn_train'])} |"
    for g in names
)
pc = ev[best]["per_class"]
per_class = ", ".join(f"{c} {pc[c]['model']['fd']:.2f}" for c in pc)
acc_pc = min(pc[c]["model"]["accuracy"] for c in pc)
m, ind, real = D["model"], D["independent_pixel"], D["real"]
progress = "\n".join(
    f"| {r['step']:,} | {r['step'] * bs / 1e6:.2f}M | {f(r['accuracy'])} | {f(r['fd'])} | "
    f"{f(r['tv'])} | {f(r['w1'], 2)} | {f(r['joint_tv'])} |"
    for r in [
        *EARLIER,
        {"step": steps, **{k: M[1][k] for k in ("accuracy", "fd", "tv", "w1", "joint_tv")}},
    ]
)
ok = lambda b: "**met**" if b else "**not met**"  # noqa: E731
card = f"""# Model card: `sprites16_small.pt`

The sprite DDPM that ships with diffprob, so that sampling, the demo and the notebooks work on a
CPU without training.

| | |
|---|---|
| model | `ContextUnet`, config `small`: 16x16 RGB, `n_feat=32`, 5 context classes, sinusoidal time embedding, 375,875 parameters |
| schedule | linear betas 1e-4 → 0.02, T = 500 (the DeepLearning.AI course's) |
| data | the embedded generator, `{ckpt.data_source}`: 50,000 sprites, classes hero, creature, food, item, spell (10,000 each) |
| objective | ε-prediction MSE, t uniform in 1..T, context dropped (null vector) 10 % of the time |
| optimiser | AdamW lr 1e-3, 200 warm-up steps, cosine decay to 2e-5, grad-norm clip 1, EMA 0.999 (these are the EMA weights) |
| training | {steps:,} steps of batch {bs} ({steps * bs:,} images, {steps * bs / 50000:.1f} epochs), final loss {final_loss:.3f} (mean of the last {loss_window} steps) |
| wall time | {meta["train_seconds"]:,.0f} s ({minutes:.0f} min) of training on one or two threads of a shared 2-core x86-64 CPU, torch {meta["torch_version"]}, no GPU |
| file | EMA weights + configs + the loss curve (`metadata["loss_history"]`, {len(meta["loss_history"])} points), 1.5 MB, `torch.load(weights_only=True)` |

## How it was trained

```bash
diffprob train --config small --steps 10000 --batch-size 64 --n-data 50000 --seed 0 \\
    --threads 1 --checkpoint-every 250 --preview-every 1000 --device cpu --out runs/ship --no-progress
diffprob train ... --steps 16000 --threads 2 --resume      # a second cosine cycle from step 10,000
diffprob train --out runs/ship --n-data 50000 --steps {steps} --threads 2 --resume   # a third, from 16,000
cp runs/ship/model.pt data/checkpoints/sprites16_small.pt  # EMA weights + loss curve
```

The first 10,000 steps were started as `--steps 7000` and, because the shared machine's load
changed during the session, stopped with SIGTERM and continued with `--resume` three times (at
steps 3058, 3439 and ~3900), changing only `--steps` (13000, 10000, 8000, then 10000) and
`--threads`. Each change of `--steps` re-spreads the cosine learning-rate decay over the new
length from that step on. From step 10,000 the run was resumed with `--steps 16000` (a warm
restart of the decay from about 3e-4) and, in a later session, from step 16,000 with
`--steps 40000`, stopped with Ctrl-C at step 16,541 and continued with `--steps {steps}` (a warm
restart from about 6.5e-4, decaying to 2e-5 at step {steps:,}). Data order, noise and dropout
masks are seeded per epoch and per step, so every resume continued exactly; only the
learning-rate curve differs from an uninterrupted run of one command.

## Evaluation

`diffprob evaluate --guidance W --per-class` (n = 500, 100 per class; DDIM 25 steps, eta 0, seed 0;
colour PMFs on 32 bins, joint R-G/G-B/R-B histograms on 32x32 bins; features and accuracy from the
shipped sprite classifier). Lower is better except accuracy; `real` is a second set of held-out
sprites (the floor).

Guidance sweep (model rows):

| w | accuracy | FD | KID | colour TV | colour W1 | joint TV | NN-train |
|---|---|---|---|---|---|---|---|
{sweep}

w = {best} has the best FD at full accuracy, so it is `diffprob.sampling.DEFAULT_GUIDANCE`.

At the default w = {best}, with the baselines from the same run:

| group | colour TV | JS bits | W1 | joint TV | accuracy | FD | KID | NN-train |
|---|---|---|---|---|---|---|---|---|
{groups}

Per class (model, w = {best}): accuracy ≥ {acc_pc:.2f} in every class; FD {per_class}. Exact copies of a
training sprite: {m["exact_copies"]:.0%}; the median distance to the nearest training sprite
({m["nn_train"]:.3f}) is larger than that of unseen real sprites ({real["nn_train"]:.3f}).

### Against the release targets (issue 4)

| target | result |
|---|---|
| ≥ 90 % conditional accuracy at the default guidance | {ok(m["accuracy"] >= 0.9)}: {m["accuracy"]:.1%} |
| clearly beat the independent-pixel baseline on feature FD | {ok(m["fd"] < 0.5 * ind["fd"])}: {m["fd"]:.2f} vs {ind["fd"]:.1f} (at least 2x lower) |
| clearly beat the independent-pixel baseline on joint-histogram distance | {ok(m["joint_tv"] < 0.8 * ind["joint_tv"])}: {m["joint_tv"]:.3f} vs {ind["joint_tv"]:.3f} ({m["joint_tv"] / ind["joint_tv"]:.2f}x; "clearly" taken as at least 20 % lower) |
| colour-PMF TV within 2x of the real-vs-real floor | {ok(m["tv"] <= 2 * real["tv"])}: {m["tv"]:.3f} vs {real["tv"]:.3f} ({m["tv"] / real["tv"]:.1f}x) |

### With training

| steps | images seen | accuracy | FD | colour TV | colour W1 | joint TV |
|---|---|---|---|---|---|---|
{progress}

What the numbers say: the model has learned the shapes and the class structure (the classifier's
features put its samples far closer to real sprites than independent pixels are), but not the
palettes. A real sprite paints each region in one palette colour (with its light and dark
shades); the model often blends two candidate hues inside one region, so about a fifth of its
pixels lie 17 or more levels (in some channel) from every colour its class can make, against none
for real sprites. That spreads both the per-channel and the joint colour histograms.
Tripling the training (1.02M to {steps * bs / 1e6:.2f}M images, {minutes:.0f} CPU minutes in all) improved every
metric, but colour TV only by about a quarter, and the sampler is not the limit either: on the
16,000-step model DDIM with 100 steps gave colour TV 0.151 against 0.162 with 25, and DDPM's 500
stochastic steps left 22 % of pixels that far off against 25 % for DDIM-25. The remaining gap is
one of capacity and training time together: the course trains a 1.5M-parameter network (our
`course` config) on about 2.8M images; this `small` one has 376k parameters. Training the
`course` config on a GPU is the known next step.
"""
(HERE / "sprites16_small.md").write_text(card)
print(f"wrote {HERE / 'sprites16_small.md'} (default guidance w = {best})")
