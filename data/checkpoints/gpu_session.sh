#!/usr/bin/env bash
# One prepared run for a session that is lent a GPU (the project's device budget is about
# 15 minutes a task, start-up included, so everything GPU-side happens in this one call):
#
#   1. the CUDA tests (tests/diffusion/test_gpu.py; CI has no GPU and skips them);
#   2. a candidate sprite model: `diffprob train`'s one-stage recipe (v-prediction on a
#      zero-terminal-SNR schedule, the default) from scratch for a --minutes budget, wider (n_feat 48: 1.9M parameters, 7.7 MB, under the 10 MB limit;
#      n_feat 64 would be 13.7 MB) and in float32 throughout (--mixed-precision off also turns
#      TF32 off): the shipped model's colour-TV excess is the precision of its pixel values
#      (see the card), and bf16/TF32 keep about as many bits as the t = 1 noise is wide;
#   3. the candidate and the shipped model scored alike: `diffprob evaluate` at seeds 0, 1, 2
#      (n = 500, w = 0) and the x0 error of `denoising_error` at t = 1, 2, 5, 20.
#
#   4. the three parts of the text-to-sprite model (train-vae, train-clip, train-txt2img),
#      SD_SECONDS each, and the pipeline's evaluation at seed 0 (with prompt faithfulness).
#
#   bash data/checkpoints/gpu_session.sh [TRAIN_SECONDS [SD_SECONDS]]   # default 240 and 90
#   DRY_RUN=1 bash data/checkpoints/gpu_session.sh 20        # a minutes-long check on a CPU
#
# Writes to $OUT (the device tool's folder; default runs/gpu_session): tests.log, train.log,
# model.pt, eval_s0.json .. eval_s2.json (the candidate), denoise.json, summary.json, and
# sd.log, txt2img.pt and eval_txt2img.json (the text-to-sprite pipeline).
set -uo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-runs/gpu_session}
TRAIN_SECONDS=${1:-240}
SD_SECONDS=${2:-90}
DRY_RUN=${DRY_RUN:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if [ "$DRY_RUN" = 1 ]; then
    device=cpu; n_feat=8; batch=32; n_data=2000; n_eval=50
else
    device=cuda; n_feat=48; batch=256; n_data=50000; n_eval=500
fi
run=runs/gpu_candidate
recipe=(--config sprite --n-feat "$n_feat"
    --batch-size "$batch" --n-data "$n_data" --seed 0 --lr 0.001 --warmup-steps 500
    --mixed-precision off --device "$device" --no-progress)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/tests.log" 2>&1
$PY -m pytest tests/diffusion/test_gpu.py -q -p no:cacheprovider >>"$OUT/tests.log" 2>&1
echo "tests exit $?" >>"$OUT/tests.log"

# The recipe for a wall-clock budget: a throughput probe inside the run sets its steps.
rm -rf "$run"
minutes=$($PY -c "print($TRAIN_SECONDS / 60)")
$PY -m diffprob train "${recipe[@]}" --minutes "$minutes" --checkpoint-every 2000 \
    --log-every 500 --out "$run" --json >"$OUT/train.log" 2>&1 || exit 1
cp "$run/model.pt" "$OUT/model.pt"

for seed in 0 1 2; do
    $PY -m diffprob evaluate --ckpt "$run/model.pt" --n "$n_eval" --seed "$seed" \
        --device "$device" -o "$OUT/eval_s$seed.json" >>"$OUT/train.log" 2>&1
done

$PY - "$run/model.pt" "$device" "$OUT" <<'EOF'
"""x0 error of both models on the same held-out sprites and noise, and the headline table."""
import json
import sys
from pathlib import Path

from diffprob.diffusion.checkpoint import default_checkpoint_path, load_model
from diffprob.evaluation.denoising_error import denoising_error
from diffprob.sprites.generator import generate_sprites

candidate, device, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
images, labels = generate_sprites(500, seed=12345)  # not the training seed
sprite_pixels = (images != 255).any(-1)
timesteps = [1, 2, 5, 20]
denoise = {}
for name, path in (("shipped", default_checkpoint_path()), ("candidate", candidate)):
    model, schedule, _ = load_model(path, device=device)
    error = denoising_error(model, schedule, images, timesteps, labels=labels, seed=0)
    denoise[name] = {
        "t": timesteps,
        "all": error.rms().tolist(),
        "sprite_colours": error.rms(sprite_pixels).tolist(),
        "background": error.rms(~sprite_pixels).tolist(),
    }
(out / "denoise.json").write_text(json.dumps(denoise, indent=1))

summary = {"denoise": denoise}
for seed in (0, 1, 2):
    path = out / f"eval_s{seed}.json"
    if path.exists():
        rows = json.loads(path.read_text())["overall"]
        summary[f"seed{seed}"] = {
            group: {k: rows[group][k] for k in ("tv", "joint_tv", "fd", "kid", "accuracy")}
            for group in ("model", "real", "independent_pixel")
        }
        summary[f"seed{seed}"]["tv_ratio"] = rows["model"]["tv"] / rows["real"]["tv"]
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(json.dumps(summary, indent=1))
EOF

# The text-to-sprite model: its three parts, each for SD_SECONDS, then its evaluation.
sd=runs/gpu_sd
rm -rf "$sd"
sd_minutes=$($PY -c "print($SD_SECONDS / 60)")
if [ "$DRY_RUN" = 1 ]; then
    sd_small=(--batch-size 16); vae_small=(--channels 8); clip_small=(--width 16); unet=tiny
else
    sd_small=(--batch-size 256); vae_small=(); clip_small=(); unet=small
fi
sd_common=(--minutes "$sd_minutes" --device "$device" --no-progress "${sd_small[@]}")
{
    $PY -m diffprob train-vae "${sd_common[@]}" "${vae_small[@]}" --out "$sd/vae" &&
    $PY -m diffprob train-clip "${sd_common[@]}" "${clip_small[@]}" --out "$sd/clip" &&
    $PY -m diffprob train-txt2img "${sd_common[@]}" --config "$unet" --vae "$sd/vae/model.pt" \
        --clip "$sd/clip/model.pt" --out "$sd/txt2img" &&
    cp "$sd/txt2img/txt2img.pt" "$OUT/txt2img.pt" &&
    $PY -m diffprob evaluate --ckpt "$sd/txt2img/txt2img.pt" --n "$n_eval" --seed 0 \
        --device "$device" -o "$OUT/eval_txt2img.json"
} >"$OUT/sd.log" 2>&1
echo "text-to-sprite exit $?" >>"$OUT/sd.log"
