"""Latent diffusion training: the objective's known values, caption dropout, the trained pipeline."""

import numpy as np
import pytest
import torch

from diffprob.diffusion.samplers.config import SamplerConfig
from diffprob.errors import ParameterError
from diffprob.stable_diffusion.autoencoder import SpriteVAE, VAEConfig
from diffprob.stable_diffusion.fit import FitConfig, fit
from diffprob.stable_diffusion.latent_scaling import LatentScaling
from diffprob.stable_diffusion.latent_training import (
    LatentDiffusionTask,
    latent_schedule,
    train_txt2img,
)
from diffprob.stable_diffusion.pipeline import Txt2ImgPipeline, txt2img
from diffprob.stable_diffusion.text_encoder import TextEncoder, TextEncoderConfig
from diffprob.stable_diffusion.text_unet import get_config
from diffprob.stable_diffusion.tokenizer import CaptionTokenizer


class Spy(torch.nn.Module):
    """Predicts 0 and remembers what it was given."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.calls = []

    def forward(self, x, t, context):
        self.calls.append((x, t, context))
        return x * self.weight


def parts(seed=0):
    torch.manual_seed(seed)
    tok = CaptionTokenizer.default()
    vae = SpriteVAE(VAEConfig(channels=8))
    text = TextEncoder(
        TextEncoderConfig(tok.vocab_size, tok.max_length, width=16, heads=2, layers=1)
    )
    return vae, text, tok


def rms_scale(vae) -> float:
    """1 / RMS of the posterior samples: the scale that makes E[z^2] = 1."""
    task = LatentDiffusionTask(*parts(), latent_scaling=1.0, unet_config=get_config("tiny"))
    x = task.batch(np.random.default_rng(99), 256)["images"]
    with torch.no_grad():
        z = vae.encode(x).sample(0)
    return float(1 / z.square().mean().sqrt())


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_a_zero_prediction_scores_the_targets_second_moment_one(prediction):
    # eps ~ N(0, 1): E[eps^2] = 1. v = sqrt(ab) eps - sqrt(1 - ab) z0 with E[z0^2] = 1 after
    # scaling and eps independent of z0: E[v^2] = ab + (1 - ab) = 1 as well.
    vae, text, tok = parts()
    task = LatentDiffusionTask(
        vae,
        text,
        tok,
        latent_scaling=rms_scale(vae),
        unet_config=get_config("tiny"),
        schedule=prediction,
    )
    batch = task.batch(np.random.default_rng(0), 256)
    loss, logs = task.loss(Spy(), batch, torch.Generator().manual_seed(0))
    assert abs(float(loss.detach()) - 1.0) < 0.06
    assert 0 <= logs["dropped"] <= 1


def test_caption_dropout_zeroes_whole_contexts():
    vae, text, tok = parts()
    batch = LatentDiffusionTask(
        vae, text, tok, latent_scaling=1.0, unet_config=get_config("tiny")
    ).batch(np.random.default_rng(1), 64)
    for dropout, expected in ((1.0, 0), (0.0, 64)):
        spy = Spy()
        task = LatentDiffusionTask(
            vae,
            text,
            tok,
            latent_scaling=1.0,
            unet_config=get_config("tiny"),
            caption_dropout=dropout,
        )
        task.loss(spy, batch, torch.Generator().manual_seed(0))
        x, t, context = spy.calls[0]
        kept = int((context.abs().sum((1, 2)) > 0).sum())
        assert kept == expected
        assert x.shape == (64, 4, 8, 8) and context.shape == (64, tok.max_length, 16)
        assert float(t.min()) > 0 and float(t.max()) <= 1  # t / T with t in 1..T
    spy = Spy()
    LatentDiffusionTask(vae, text, tok, latent_scaling=1.0, unet_config=get_config("tiny")).loss(
        spy, batch, torch.Generator().manual_seed(0)
    )
    kept = int((spy.calls[0][2].abs().sum((1, 2)) > 0).sum())
    assert 40 <= kept <= 64  # about 10 % dropped


def test_batches_are_fresh_and_reproducible():
    task = LatentDiffusionTask(*parts(), latent_scaling=1.0, unet_config=get_config("tiny"))
    a = task.batch(np.random.default_rng([0, 5]), 8)
    b = task.batch(np.random.default_rng([0, 5]), 8)
    c = task.batch(np.random.default_rng([0, 6]), 8)
    assert torch.equal(a["ids"], b["ids"]) and a["captions"] == b["captions"]
    assert not torch.equal(a["images"], c["images"])
    assert task.tokenizer.decode(a["ids"]) == a["captions"]


def test_the_parts_must_fit_the_unet():
    vae, text, tok = parts()
    with pytest.raises(
        ParameterError, match="context_dim is 32 but the VAE and text encoder need 16"
    ):
        LatentDiffusionTask(
            vae, text, tok, latent_scaling=1.0, unet_config=get_config("tiny", context_dim=32)
        )
    with pytest.raises(ParameterError, match="every scale must be > 0"):
        LatentDiffusionTask(vae, text, tok, latent_scaling=0)
    with pytest.raises(ParameterError, match="is for 3 channel\\(s\\), the latents have 4"):
        LatentDiffusionTask(vae, text, tok, latent_scaling=LatentScaling((0,) * 3, (1,) * 3))
    with pytest.raises(ParameterError, match="caption_dropout"):
        LatentDiffusionTask(vae, text, tok, latent_scaling=1.0, caption_dropout=2)
    assert latent_schedule("epsilon").config.zero_terminal_snr is False


def test_fit_trains_only_the_unet_and_the_pipeline_samples():
    vae, text, tok = parts()
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    task = LatentDiffusionTask(vae, text, tok, latent_scaling=2.0, unet_config=get_config("tiny"))
    result = fit(task, FitConfig(steps=3, batch_size=8, warmup_steps=0), progress=False)
    assert result.steps == 3 and np.isfinite(result.history[-1]["loss"])
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())
    assert result.metadata["latent_scaling"] == {"shift": [0.0] * 4, "scale": [2.0] * 4}
    pipe = task.pipeline(result.model, guidance=1.5)
    out = pipe("a red potion", 2, generator=0, config=None)
    assert out.images.shape == (2, 16, 16, 3) and out.info["guidance"] == 1.5


def test_train_txt2img_from_part_files_writes_the_pipeline(tmp_path):
    from diffprob.stable_diffusion.contrastive import ContrastiveModel
    from diffprob.stable_diffusion.image_encoder import ImageEncoderConfig
    from diffprob.stable_diffusion.parts import save_part

    vae, text, tok = parts()
    save_part(
        tmp_path / "vae.pt",
        "vae",
        vae.config.to_dict(),
        vae.state_dict(),
        {"latent_scale_factor": 1.5},
    )
    clip = ContrastiveModel(
        text.config, ImageEncoderConfig(embed_dim=text.config.embed_dim, width=4)
    )
    clip_config = {
        "text": text.config.to_dict(),
        "image": clip.image_config.to_dict(),
        "tokenizer": tok.to_dict(),
    }
    save_part(tmp_path / "clip.pt", "clip", clip_config, clip.state_dict())

    out = tmp_path / "run"
    result, pipe = train_txt2img(
        tmp_path / "vae.pt",
        tmp_path / "clip.pt",
        FitConfig(steps=2, batch_size=4, warmup_steps=0),
        unet_config=get_config("tiny"),
        out=out,
        progress=False,
    )
    assert (out / "model.pt").is_file() and (out / "txt2img.pt").is_file()
    loaded = Txt2ImgPipeline.load(out / "txt2img.pt")
    # a part with only Stable Diffusion's global factor: that factor for every channel
    assert loaded.latent_scaling == LatentScaling.global_factor(1.5, 4)
    assert torch.equal(
        loaded.text_encoder.token_embedding.weight, clip.text_encoder.token_embedding.weight
    )
    a = txt2img("a red potion", 2, checkpoint=out / "txt2img.pt", seed=0, steps=3)
    b = pipe("a red potion", 2, generator=0, config=SamplerConfig(steps=3), guidance=pipe.guidance)
    assert a.images.shape == (2, 16, 16, 3)
    assert (a.images == b.images).all()  # the returned pipeline is the one saved
