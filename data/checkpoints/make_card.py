"""Write the model card ``sprites16.md`` from the checkpoint and a guidance sweep.

Run from the repository root after evaluating the shipped checkpoint at w = 0..3::

    for w in 0 1 2 3; do
        diffprob evaluate --guidance $w --per-class -o runs/card/w$w.json
    done
    python data/checkpoints/make_card.py runs/card

Other samplers and seeds add rows when their reports are there (all at w = 0)::

    diffprob evaluate --guidance 0 --spacing quadratic -o runs/card/ddim25_quad.json
    diffprob evaluate --guidance 0 --sampler dpmpp-2m -o runs/card/dpm25.json
    diffprob evaluate --guidance 0 --sampler dpmpp-2m --spacing quadratic -o runs/card/dpm25_quad.json
    diffprob evaluate --guidance 0 --steps 25 --eta 1 -o runs/card/ddim25_eta1.json
    diffprob evaluate --guidance 0 --steps 100 -o runs/card/ddim100.json
    diffprob evaluate --guidance 0 --steps 100 --eta 1 -o runs/card/ddim100_eta1.json
    diffprob evaluate --guidance 0 --sampler ddpm -o runs/card/ddpm500.json
    # seeds 1 and 2: the default, ddim25_quad, dpm25, dpm25_quad and ddim100 settings with
    # --seed S, written to runs/card/seeds/sS_{ddim25,ddim25_quad,dpm25,dpm25_quad,ddim100}.json

Rows whose reports are missing are left out. The script also re-runs the w = 0 evaluation (the same settings, so the same numbers, which it
checks) to keep its images: the precision section snaps those samples to the palette and
measures the network's x0 error on the reference sprites (about a minute on a CPU).

Every number in the card is read from the checkpoint, from the checkpoints it was fine-tuned
from (``metadata["init_from"]``, found by their recorded step and schedule among the shipped
checkpoints and the run folders in ``STAGES``) or from those JSON reports, except the earlier
shipped models' rows (``EARLIER``, copied from their own cards, ``sprites16_small.md`` and
``sprites16_eps.md``, and, for the base network alone, from this card before the expert joined
it) and the machine each stage ran on (``STAGES``; checkpoints do not record it).
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from diffprob.diffusion.checkpoint import Checkpoint, load_model
from diffprob.diffusion.models.unet import count_parameters
from diffprob.diffusion.samplers.timesteps import ddim_timesteps
from diffprob.diffusion.schedule import ScheduleConfig
from diffprob.evaluation.denoising_error import denoising_error
from diffprob.evaluation.divergences import total_variation_distance
from diffprob.evaluation.evaluate import evaluate
from diffprob.sprites.ground_truth import snap_to_palette
from diffprob.stats.histograms import channel_histograms

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("eval_dir", type=Path, help="folder holding w0.json .. w3.json")
args = parser.parse_args()

# The training stages of the shipped model, first to last: the run folder each command wrote
# (its --out), where its model.pt was then copied (None: not shipped) and the machine it ran on.
# The last stage is the low-noise expert (--t-max), combined with the base by `diffprob experts`.
SPR = "a 2-core x86-64 CPU (Sapphire Rapids, AMX), bf16 autocast"
EPYC = "a 2-core x86-64 CPU (AMD EPYC, AVX2), float32"
STAGES = [
    {"out": "runs/sprite", "shipped_as": "sprites16_eps.pt", "machine": SPR},
    {"out": "runs/vpred", "shipped_as": None, "machine": SPR},
    {"out": "runs/expert20", "shipped_as": None, "machine": EPYC},
]


def same_schedule(a: dict, b: dict) -> bool:
    return ScheduleConfig(**a).to_dict() == ScheduleConfig(**b).to_dict()


def find_parent(info: dict) -> Checkpoint:
    """The checkpoint an ``init_from`` record names, found by its step and schedule."""
    candidates = [ROOT / info["path"], *HERE.glob("*.pt")]
    candidates += [ROOT / stage["out"] / "model.pt" for stage in STAGES]
    for path in candidates:
        if path.is_file():
            found = Checkpoint.load(path)
            if found.step == info["step"] and same_schedule(
                found.schedule_config, info["schedule_config"]
            ):
                return found
    raise SystemExit(f"parent checkpoint not found: {info}")


ckpt = Checkpoint.load(HERE / "sprites16.pt")
chain = [ckpt]
while "init_from" in chain[0].metadata:
    chain.insert(0, find_parent(chain[0].metadata["init_from"]))
if len(ckpt.experts or ()) != 1:
    raise SystemExit("the card describes a base network and one low-noise expert")
entry = ckpt.experts[0]
expert = Checkpoint(
    model_config=ckpt.model_config,
    schedule_config=ckpt.schedule_config,
    model_state=None,
    ema_state=entry["ema_state"],
    step=entry["step"],
    class_names=ckpt.class_names,
    data_source=ckpt.data_source,
    train_config=entry["train_config"],
    metadata=entry["metadata"],
)
t_expert = entry["t_max"]
stages = [*chain, expert]
if len(stages) != len(STAGES):
    raise SystemExit(f"{len(stages)} training stages found, STAGES describes {len(STAGES)}")
meta = ckpt.metadata
cfg = ckpt.unet_config
tc = ckpt.train_config
etc = expert.train_config
sc = ckpt.schedule_config
n_params = count_parameters(ckpt.build_model(experts=False))
ev = {w: json.loads((args.eval_dir / f"w{w}.json").read_text()) for w in (0, 1, 2, 3)}
M = {w: ev[w]["overall"]["model"] for w in ev}
# the default guidance: full accuracy first, then the lowest feature FD
best = min((1, 2, 3, 0), key=lambda w: (-M[w]["accuracy"], M[w]["fd"]))
D = ev[best]["overall"]
bs = tc["batch_size"]
n_train = meta["n_train"]
base_steps = sum(stage.step for stage in chain)
total_steps = base_steps + expert.step
stage_minutes = [stage.metadata["train_seconds"] / 60 for stage in stages]
total_seconds = sum(stage.metadata["train_seconds"] for stage in stages)
minutes = total_seconds / 60
final_loss = meta["loss_history"][-1]["loss"]
loss_window = meta["loss_history"][-1]["step"] - meta["loss_history"][-2]["step"]
size_mb = (HERE / "sprites16.pt").stat().st_size / 1e6

# The earlier shipped models scored with the same command at w = 1, from their own cards:
# data/checkpoints/sprites16_small.md and sprites16_eps.md; their KID re-measured
# with the class-stratified estimator (the other numbers reproduced exactly).
EARLIER = [
    {
        "label": "`sprite`, v-prediction, zero terminal SNR, 115,000 steps, 168 CPU min "
        "(the base network alone, )",
        "accuracy": 1.000,
        "fd": 0.151,
        "kid": 0.019,
        "tv": 0.058,
        "w1": 0.12,
        "joint_tv": 0.183,
        "nn_train": 0.133,
    },
    {
        "label": "`small` (course network), ε-prediction, 48,000 steps, 210 CPU min",
        "accuracy": 1.000,
        "fd": 0.422,
        "kid": 0.077,
        "tv": 0.125,
        "w1": 0.92,
        "joint_tv": 0.305,
        "nn_train": 0.160,
    },
    {
        "label": "`sprite` (DDPM network), ε-prediction, 75,000 steps, 107 CPU min",
        "accuracy": 1.000,
        "fd": 0.284,
        "kid": 0.037,
        "tv": 0.076,
        "w1": 0.71,
        "joint_tv": 0.195,
        "nn_train": 0.141,
    },
]


def objective(schedule_config: dict) -> str:
    kind = (
        "v-prediction"
        if schedule_config.get("prediction_type") == "v_prediction"
        else "ε-prediction"
    )
    if schedule_config.get("zero_terminal_snr"):
        return f"{kind}, zero terminal SNR"
    return f"{kind} on the course's schedule"


def command(i: int) -> str:
    """The ``diffprob train`` command of stage i, from the settings its checkpoint records."""
    stage, c = STAGES[i], stages[i]
    t, s = c.train_config, c.schedule_config
    flags = [f"--config {c.unet_config.name}"]
    if s.get("zero_terminal_snr"):
        flags.append("--zero-terminal-snr")
    if s.get("prediction_type", "epsilon") != "epsilon":
        flags.append(f"--prediction-type {s['prediction_type']}")
    if i > 0:
        parent = STAGES[i - 1]
        source = (
            f"data/checkpoints/{parent['shipped_as']}"
            if parent["shipped_as"]
            else f"{parent['out']}/model.pt"
        )
        flags.append(f"--init-from {source}")
    if t.get("t_max"):
        flags.append(f"--t-max {t['t_max']}")
    flags += [
        f"--steps {t['steps']}",
        f"--batch-size {t['batch_size']}",
        f"--n-data {c.metadata['n_train']}",
        f"--seed {t['seed']}",
        f"--lr {t['lr']:g}",
        f"--warmup-steps {t['warmup_steps']}",
        f"--mixed-precision {t['mixed_precision']}",
        "--device cpu --threads 2",
        f"--checkpoint-every {t['checkpoint_every']}",
    ]
    if t["preview_every"]:
        flags.append(f"--preview-every {t['preview_every']}")
    flags += [f"--log-every {t['log_every']}", "--no-progress", f"--out {stage['out']}"]
    lines, line = [], "diffprob train"
    for flag in flags:
        if len(line) + len(flag) > 90:
            lines.append(line + " \\")
            line = "   "
        line += " " + flag
    lines.append(line)
    if stage["shipped_as"]:
        lines.append(f"cp {stage['out']}/model.pt data/checkpoints/{stage['shipped_as']}")
    if c is expert:
        base_out = STAGES[len(chain) - 1]["out"]
        lines.append(
            f"diffprob experts {base_out}/model.pt {stage['out']}/model.pt \\\n"
            "    -o data/checkpoints/sprites16.pt"
        )
    return "\n".join(lines)


def f(x, nd=3):
    return f"{x:.{nd}f}"


def row(label, r, bold=False):
    cells = [
        label,
        f(r["accuracy"]),
        f(r["fd"]),
        f(r["kid"]),
        f(r["tv"]),
        f(r["w1"], 2),
        f(r["joint_tv"]),
        f(r["nn_train"]),
    ]
    if bold:
        cells = [f"**{c}**" for c in cells]
    return "| " + " | ".join(cells) + " |"


sweep = "\n".join(
    row(f"{w} (default)" if w == best else str(w), M[w], bold=w == best) for w in (0, 1, 2, 3)
)
names = {
    "model": "model",
    "real": "real (2nd sample)",
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
ok = lambda b: "**met**" if b else "**not met**"  # noqa: E731
# Other samplers at w = 0, if evaluated (see the module docstring).
SAMPLERS = {
    "ddim25_quad": "DDIM 25 steps, eta 0, quadratic spacing",
    "dpm25": "DPM-Solver++(2M) 25 steps",
    "dpm25_quad": "DPM-Solver++(2M) 25 steps, quadratic spacing",
    "ddim25_eta1": "DDIM 25 steps, eta 1",
    "ddim100": "DDIM 100 steps, eta 0",
    "ddim100_eta1": "DDIM 100 steps, eta 1",
    "ddpm500": "DDPM, all 500 steps",
}
sampler_reports = {"DDIM 25 steps, eta 0 (default)": ev[0]["overall"]}
reports_by_key = {
    key: json.loads((args.eval_dir / f"{key}.json").read_text())["overall"]
    for key in SAMPLERS
    if (args.eval_dir / f"{key}.json").is_file()
}
sampler_reports |= {SAMPLERS[key]: report for key, report in reports_by_key.items()}
sampler_rows = [
    f"| {label} | {f(o['model']['tv'])} | {f(o['model']['tv'] / o['real']['tv'], 2)} | "
    f"{f(o['model']['w1'], 2)} | {f(o['model']['joint_tv'])} | {f(o['model']['fd'])} | "
    f"{f(o['model']['accuracy'])} |"
    for label, o in sampler_reports.items()
]
samplers = "\n".join(sampler_rows)
# The same settings at other seeds (optional files seeds/s{seed}_{key}.json; key "ddim25" is
# the default sampler): a second real sample moves with the seed, and so does the ratio.
SEED_KEYS = {
    "ddim25": "DDIM 25 (default)",
    **{k: SAMPLERS[k] for k in ("ddim25_quad", "dpm25", "dpm25_quad", "ddim100")},
}
seed_reports = {
    0: {"ddim25": ev[0]["overall"]}
    | {k: reports_by_key[k] for k in SEED_KEYS if k in reports_by_key}
}
for path in sorted((args.eval_dir / "seeds").glob("s*_*.json")):
    seed, key = path.stem[1:].split("_", 1)
    if key in SEED_KEYS:
        seed_reports.setdefault(int(seed), {})[key] = json.loads(path.read_text())["overall"]
seed_list = sorted(seed_reports)
seed_rows = []
for key, label in SEED_KEYS.items():
    cells = [seed_reports[s].get(key) for s in seed_list]
    if any(c is None for c in cells):
        continue
    mean_tv = sum(c["model"]["tv"] for c in cells) / len(cells)
    mean_real = sum(c["real"]["tv"] for c in cells) / len(cells)
    seed_rows.append(
        f"| {label} | "
        + " | ".join(
            f"{f(c['model']['tv'], 4)} ({c['model']['tv'] / c['real']['tv']:.2f}x)" for c in cells
        )
        + f" | {mean_tv / mean_real:.2f}x | "
        + " / ".join(f(c["model"]["fd"]) for c in cells)
        + " |"
    )
real_tvs = " / ".join(f"{seed_reports[s]['ddim25']['real']['tv']:.4f}" for s in seed_list)
fd_reals = " / ".join(f"{seed_reports[s]['ddim25']['real']['fd']:.3f}" for s in seed_list)


def at_every_seed(key, metric):
    """Does setting `key` beat the default sampler on `metric` at every seed it was run at?"""
    return all(
        seed_reports[s][key]["model"][metric] < seed_reports[s]["ddim25"]["model"][metric]
        for s in seed_list
        if key in seed_reports[s]
    )


seed_findings = ""
if len(seed_list) >= 2 and all("dpm25_quad" in seed_reports[s] for s in seed_list):
    spacing_helps = at_every_seed("ddim25_quad", "tv") and at_every_seed("dpm25_quad", "tv")
    solver_helps = at_every_seed("dpm25", "fd") and at_every_seed("dpm25_quad", "fd")
    within = [
        k
        for k in SEED_KEYS
        if all(
            k in seed_reports[s]
            and seed_reports[s][k]["model"]["tv"] <= 2 * seed_reports[s][k]["real"]["tv"]
            for s in seed_list
        )
    ]
    seed_findings = (
        f"Quadratic spacing {'lowers' if spacing_helps else 'does not always lower'} colour TV at every seed; "
        f"DPM-Solver++(2M) {'lowers' if solver_helps else 'does not always lower'} FD at every seed, to "
        "about DDIM-100's at a quarter of the network calls. "
        + (
            f"Within 2x of the real row at every seed: {', '.join(SEED_KEYS[k] for k in within)}. "
            if within
            else "No setting, DDIM-100 included, is within 2x of the real row at every seed: the "
            "better samplers level off at the same colour TV, so the remaining excess is the "
            "network's, not the sampler's; and at n = 500 the real row itself moves by "
            f"{(max(seed_reports[s]['ddim25']['real']['tv'] for s in seed_list) / min(seed_reports[s]['ddim25']['real']['tv'] for s in seed_list) - 1):.0%} between seeds. "
        )
    )
seeds_table = (
    ""
    if len(seed_list) < 2
    else f"""
At other seeds (w = 0, n = 500; colour TV with its ratio to that seed's real row,
{real_tvs}; FD of the real row {fd_reals}):

| sampler | {" | ".join(f"TV, seed {s}" for s in seed_list)} | mean TV / mean real | FD, seeds {", ".join(map(str, seed_list))} |
|---|{"---|" * len(seed_list)}---|---|
{chr(10).join(seed_rows)}
"""
)
this_label = (
    f"`{cfg.name}` (DDPM network) + low-noise expert (t ≤ {t_expert}), {objective(sc)}, "
    f"{base_steps:,} + {expert.step:,} steps, {minutes:.0f} CPU min (this model)"
)
versus_first = "\n".join([row(r["label"], r) for r in EARLIER] + [row(this_label, M[1])])
eta1 = sampler_reports.get("DDIM 25 steps, eta 1")
if eta1 is None:
    sampler_note = ""
elif eta1["model"]["tv"] < M[0]["tv"] and eta1["model"]["fd"] < M[0]["fd"]:
    sampler_note = (
        "Stochastic steps (eta = 1) correct some of the deterministic sampler's drift: with the "
        "same network and 25 steps colour TV and FD both fall. "
    )
else:
    sampler_note = (
        "Stochastic steps (eta = 1) do not improve on the deterministic sampler here on both "
        "colour TV and FD. "
    )
if sc.get("zero_terminal_snr"):
    schedule_text = (
        "linear betas 1e-4 → 0.02, T = 500 (the DeepLearning.AI course's), **rescaled to zero "
        "terminal SNR** (Lin et al. 2024, algorithm 1: ᾱ_T = 0, ᾱ_1 unchanged)"
    )
else:
    schedule_text = "linear betas 1e-4 → 0.02, T = 500 (the DeepLearning.AI course's)"
if sc.get("prediction_type") == "v_prediction":
    objective_text = "v-prediction MSE (v = √ᾱ_t ε − √(1−ᾱ_t) x0; Salimans & Ho 2022)"
else:
    objective_text = "ε-prediction MSE"
stage_rows = "\n".join(
    f"| {i + 1} | {('low-noise expert, t ≤ ' + str(t_expert) + ', ') if c is expert else ''}{objective(c.schedule_config)} | "
    f"{'from stage ' + str(i) if i else 'from scratch'} | "
    f"{c.step:,} | {c.train_config['lr']:g} | {c.metadata['train_seconds'] / 60:.0f} min | {STAGES[i]['machine']} |"
    for i, c in enumerate(stages)
)
expert_loss = expert.metadata["loss_history"][-1]["loss"]
training_text = (
    f"base: {base_steps:,} steps of batch {bs} in {len(chain)} stages ({base_steps * bs:,} images, "
    f"{base_steps * bs / n_train:.1f} epochs), final loss {final_loss:.4f} "
    f"({'v' if sc.get('prediction_type') == 'v_prediction' else 'ε'}-MSE, mean of the last {loss_window} steps); "
    f"expert: {expert.step:,} more steps on t ≤ {t_expert} only, final loss {expert_loss:.4f} (below)"
)
wall_text = (
    f"{total_seconds:,.0f} s ({minutes:.0f} min: {' + '.join(f'{m:.0f}' for m in stage_minutes)}), "
    f"torch {meta['torch_version']}, no GPU"
)
commands = "\n\n".join(f"Stage {i + 1}:\n\n```bash\n{command(i)}\n```" for i in range(len(stages)))
how_trained = f"""{["One", "Two", "Three", "Four"][len(stages) - 1]} `diffprob train` commands on 2-core development machines, each stage a new run
(fresh optimizer, warm-up and cosine decay) starting from the EMA weights of the one before
(`--init-from`); the last one trains the low-noise expert, which `diffprob experts` stores beside
the base network in the shipped file:

| stage | objective | start | steps | peak lr | wall time | machine |
|---|---|---|---|---|---|---|
{stage_rows}

{commands}

(Stage 2's `--init-from` read `sprites16_eps.pt` under its old name, `sprites16.pt`; stage 3's
read the stage-2 model as `data/checkpoints/sprites16.pt`, the same file as `runs/vpred/model.pt`,
shipped alone until the expert joined it.) Why the
later stages: the ε-model scored colour TV 3.1x a second real sample's, because the course's schedule
keeps ᾱ_T = 0.0064 of the image in x_T, which the network learned to read but sampling from
N(0, I) does not supply (3.5 % pure-white pixels against 60.5 % in real sprites). The rescaled
schedule removes that signal from training too, and v-prediction keeps x0 recoverable at t = T."""
# Where colour TV's excess comes from: the w = 0 run again, keeping its images.
settings = ev[0]["settings"]
rerun = evaluate(
    HERE / "sprites16.pt", n=settings["n"], guidance=0.0, seed=settings["seed"], progress=False
)
if abs(rerun.overall["model"]["tv"] - M[0]["tv"]) > 1e-3:
    raise SystemExit("the w = 0 re-run does not reproduce w0.json; evaluate again")
ref_images, ref_labels = rerun.images["reference"], rerun.labels["reference"]


ref_hist = channel_histograms(ref_images, bins=settings["pmf_bins"])


def colour_tv(images):
    hist = channel_histograms(images, bins=settings["pmf_bins"])
    return float(np.mean(total_variation_distance(hist, ref_hist)))


snapped, offset = snap_to_palette(rerun.images["model"], rerun.labels["model"])
landing = {
    "exactly on a palette colour": offset == 0,
    "1 level off (in the largest channel)": offset == 1,
    "2-3 levels": (offset >= 2) & (offset <= 3),
    "4-16 levels": (offset >= 4) & (offset <= 16),
    "more than 16": offset > 16,
}
landing_text = ", ".join(f"{v.mean():.0%} {k}" for k, v in landing.items())
# Edge pixels: a 4-neighbour snaps to another colour. Large offsets there are soft boundaries
# (a blend of the two colours), not a wrong colour.
colour_key = snapped.astype(np.int64) @ np.array([65536, 256, 1])
cross = np.zeros((1, 3, 3), dtype=bool)
cross[0, 1, :] = cross[0, :, 1] = True
edge = ndimage.maximum_filter(colour_key, footprint=cross, mode="nearest") != (
    ndimage.minimum_filter(colour_key, footprint=cross, mode="nearest")
)
outline_share = float((ref_images == (34, 24, 40)).all(axis=-1).mean())
net, schedule, _ = load_model(HERE / "sprites16.pt")
base_net, _, _ = load_model(HERE / "sprites16.pt", experts=False)
T = schedule.num_timesteps
last_default = ddim_timesteps(T, settings["steps"])[-1]
precision_ts = sorted({1, 2, 5, 10, last_default})
den = denoising_error(net, schedule, ref_images, precision_ts, labels=ref_labels, seed=0)
den_base = denoising_error(base_net, schedule, ref_images, precision_ts, labels=ref_labels, seed=0)
background = (ref_images == 255).all(axis=-1)
rms_bg, rms_fg = den.rms(background), den.rms(~background)
base_bg, base_fg = den_base.rms(background), den_base.rms(~background)
precision_rows = "\n".join(
    f"| {t}{' (the default sampler starts its last step here)' if t == last_default else ''} | "
    f"{nz:.2f} | {bb:.2f} → {b:.2f} | {bf:.2f} → {fg:.2f} |"
    for t, nz, bb, b, bf, fg in zip(
        precision_ts, den.noise_levels, base_bg, rms_bg, base_fg, rms_fg, strict=True
    )
)
quad_ts = ddim_timesteps(T, settings["steps"], "quadratic")
quad_expert_steps = [t for t in quad_ts if t <= t_expert]
precision = f"""
### Why colour TV stays above the real row

Snapped to the nearest colour its class can contain (`diffprob.snap_to_palette`), the w = 0
samples score colour TV {colour_tv(snapped):.3f} (unsnapped {colour_tv(rerun.images["model"]):.3f}; real
real {ev[0]["overall"]["real"]["tv"]:.3f}): the model picks the right colours in the right
proportions, and the excess is how precisely its pixels land on them. Of the generated pixels,
{landing_text}.
{edge[offset >= 4].mean():.0%} of the pixels 4 or more levels off sit at an edge between two
colours (a 4-neighbour snaps to another colour; {edge.mean():.0%} of all pixels do): soft
boundaries, a blend of the two colours. The 1-3 level offsets are everywhere
({edge[(offset >= 1) & (offset <= 3)].mean():.0%} at edges): precision. One level costs TV where a colour sits on a bin edge: the outline (34, 24, 40),
{outline_share:.0%} of real pixels, has G and B on edges of the 8-level bins, so an outline pixel
one level dark changes bin.

The networks' own precision, on the {len(ref_images)} reference sprites
(`diffprob.denoising_error`: x_t made from real sprites, RMS error of the x0 the network implies,
in grey levels; background = the white pixels; base network alone → with the low-noise expert,
which answers for t ≤ {t_expert}):

| t | noise in x_t / sqrt(ᾱ_t) | error, background | error, sprite colours |
|---|---|---|---|
{precision_rows}

Most palette colours are tens of levels apart, so an ideal denoiser would recognise each pixel's
colour at t = 1 and leave almost none of the {den.noise_levels[0]:.2f} levels; the base network
leaves {base_fg[0]:.2f} on sprite colours and the expert {rms_fg[0]:.2f}. The expert is one
network's capacity spent on t ≤ {t_expert} alone (eDiff-I's ensemble of expert denoisers); the
default sampler calls it once, at t = {last_default}, while quadratic spacing calls it for its last
{len(quad_expert_steps)} steps (t = {", ".join(map(str, reversed(quad_expert_steps)))}), which is where it
lowers colour TV (the sampler tables above). The remaining gap needs a network that places colours
more precisely still: more capacity at full resolution, trained for longer
(`data/checkpoints/gpu_session.sh` is that run, prepared for a machine with a GPU).
"""

# The same target with the recommended sampler, at seed 0 and as the mean over the seeds run.
recommended_row = ""
if all("dpm25_quad" in seed_reports[s] for s in seed_list):
    rec = [seed_reports[s]["dpm25_quad"] for s in seed_list]
    rec_ratio = [r["model"]["tv"] / r["real"]["tv"] for r in rec]
    rec_mean = sum(r["model"]["tv"] for r in rec) / sum(r["real"]["tv"] for r in rec)
    recommended_row = (
        "| the same with `--sampler dpmpp-2m --spacing quadratic` (the recommended setting, same "
        f"cost) | seed 0: {ok(rec_ratio[0] <= 2)} ({rec_ratio[0]:.2f}x); seeds "
        f"{', '.join(map(str, seed_list))}: "
        + " / ".join(f"{x:.2f}x" for x in rec_ratio)
        + f", mean TV / mean real {rec_mean:.2f}x |\n"
    )

card = f"""# Model card: `sprites16.pt`

The sprite DDPM that ships with diffprob, so that sampling, the demo and the notebooks work on a
CPU without training.

| | |
|---|---|
| model | `DDPMUnet` (`diffprob.diffusion.models.ddpm_unet`), config `{cfg.name}`: {cfg.image_size}x{cfg.image_size} RGB, `n_feat={cfg.n_feat}`, {cfg.n_cfeat} context classes, time + class embedding in every residual block, self-attention at 4x4, {n_params:,} parameters; plus a **low-noise expert** of the same architecture that answers for t ≤ {t_expert} (`diffprob.NoiseLevelExperts`; eDiff-I, Balaji et al. 2022), {2 * n_params:,} parameters in all |
| schedule | {schedule_text} |
| data | the embedded generator, `{ckpt.data_source}`: {n_train:,} sprites, classes {", ".join(ckpt.class_names)} |
| objective | {objective_text}, t uniform in 1..T (the expert: 1..{t_expert}), context dropped (null vector) {tc["context_dropout"]:.0%} of the time |
| optimiser | AdamW, per stage a warm-up then cosine decay to {tc["min_lr_ratio"]:.0%} of the peak (base's last stage: {tc["lr"]:g} → {tc["lr"] * tc["min_lr_ratio"]:g}; expert: {etc["lr"]:g} → {etc["lr"] * etc["min_lr_ratio"]:g}), grad-norm clip {tc["grad_clip"]:g}, EMA {tc["ema_decay"]} (these are the EMA weights) |
| training | {training_text} |
| wall time | {wall_text} |
| file | EMA weights of both networks + configs + each one's loss curve (`metadata["loss_history"]`, {len(meta["loss_history"])} points; the expert's in `experts[0]["metadata"]`), {size_mb:.1f} MB, `torch.load(weights_only=True)` |

## How it was trained

{how_trained}

The machine was also running the session's tests and notebooks now and then (the images/s
column of the loss curve shows it).

## Evaluation

`diffprob evaluate --guidance W --per-class` (n = 500, 100 per class; DDIM 25 steps, eta 0, seed 0;
colour PMFs on 32 bins, joint R-G/G-B/R-B histograms on 32x32 bins; features and accuracy from the
shipped sprite classifier). Lower is better except accuracy; `real` is a second set of held-out
sprites (a second real sample of the same size: what sampling noise alone gives).

Guidance sweep (model rows):

| w | accuracy | FD | KID | colour TV | colour W1 | joint TV | NN-train |
|---|---|---|---|---|---|---|---|
{sweep}

w = {best} has the best FD at full accuracy, so it is `diffprob.diffusion.sampling.DEFAULT_GUIDANCE`.

At the default w = {best}, with the baselines from the same run:

| group | colour TV | JS bits | W1 | joint TV | accuracy | FD | KID | NN-train |
|---|---|---|---|---|---|---|---|---|
{groups}

Per class (model, w = {best}): accuracy ≥ {acc_pc:.2f} in every class; FD {per_class}. Exact copies of a
training sprite: {m["exact_copies"]:.0%}; the median distance to the nearest training sprite
({m["nn_train"]:.3f}) against that of unseen real sprites ({real["nn_train"]:.3f}).

### Against the earlier shipped models (same command, w = 1)

| model | accuracy | FD | KID | colour TV | colour W1 | joint TV | NN-train |
|---|---|---|---|---|---|---|---|
{versus_first}

### Samplers (w = 0, n = 500, seed 0)

| sampler | colour TV | TV / real | colour W1 | joint TV | FD | accuracy |
|---|---|---|---|---|---|---|
{samplers}
{seeds_table}
{seed_findings}{sampler_note}The defaults stay DDIM-25 with eta 0 (deterministic given the seed, the course's
sampler, and what the release targets below are judged on); `--sampler dpmpp-2m --spacing
quadratic` is the better choice at the same cost.
{precision}
### Against the release targets (issue 4)

| target | result |
|---|---|
| ≥ 90 % conditional accuracy at the default guidance | {ok(m["accuracy"] >= 0.9)}: {m["accuracy"]:.1%} |
| clearly beat the independent-pixel baseline on feature FD | {ok(m["fd"] < 0.5 * ind["fd"])}: {m["fd"]:.2f} vs {ind["fd"]:.1f} (at least 2x lower) |
| clearly beat the independent-pixel baseline on joint-histogram distance | {ok(m["joint_tv"] < 0.8 * ind["joint_tv"])}: {m["joint_tv"]:.3f} vs {ind["joint_tv"]:.3f} ({m["joint_tv"] / ind["joint_tv"]:.2f}x; "clearly" taken as at least 20 % lower) |
| colour-PMF TV within 2x of a second real sample | {ok(m["tv"] <= 2 * real["tv"])}: {m["tv"]:.3f} vs {real["tv"]:.3f} ({m["tv"] / real["tv"]:.1f}x) |
{recommended_row}"""
(HERE / "sprites16.md").write_text(card)
print(f"wrote {HERE / 'sprites16.md'} (default guidance w = {best})")
