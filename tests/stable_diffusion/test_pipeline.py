"""The text-to-sprite pipeline: reproducible with a seed, one self-contained file, clear refusals."""

import pytest
import torch

from diffprob.diffusion.samplers.config import SamplerConfig
from diffprob.errors import CheckpointError, DataError, ParameterError
from diffprob.stable_diffusion.pipeline import (
    DEFAULT_N,
    Txt2ImgPipeline,
    resolve_txt2img_path,
    txt2img,
)

FAST = SamplerConfig(steps=3)


def open_paths(pipe: Txt2ImgPipeline) -> Txt2ImgPipeline:
    """Randomise the zero-initialised layers of the U-Net, as if it were trained."""
    torch.manual_seed(5)
    for p in pipe.unet.parameters():
        if p.ndim > 1 and p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.3)
    return pipe


@pytest.fixture(scope="module")
def pipe():
    return open_paths(Txt2ImgPipeline.tiny(seed=0))


@pytest.fixture(scope="module")
def saved(pipe, tmp_path_factory):
    path = tmp_path_factory.mktemp("pipe") / "txt2img.pt"
    pipe.save(path)
    return path


def test_images_are_uint8_sprites_and_reproducible(pipe):
    a = pipe("a red potion", 4, generator=7, config=FAST, return_latents=True)
    b = pipe("a red potion", 4, generator=7, config=FAST)
    c = pipe("a red potion", 4, generator=8, config=FAST)
    assert a.images.shape == (4, 16, 16, 3) and a.images.dtype.name == "uint8"
    assert a.x.shape == (4, 3, 16, 16) and float(a.x.abs().max()) <= 1
    assert a.latents.shape == (4, 4, 8, 8) and b.latents is None
    assert (a.images == b.images).all()
    assert not (a.images == c.images).all()
    assert a.prompts == ["a red potion"] * 4
    assert a.info["sampler"] == "dpmpp-2m" and a.info["clip_x0"] is False


def test_latents_are_not_clamped_to_the_pixel_range(pipe):
    result = pipe("a blue slime", 8, generator=0, config=FAST, return_latents=True)
    assert result.latents.abs().max() > 1  # sample() would have cut them at 1


def test_guidance_is_used_and_defaults_to_the_pipeline(pipe):
    plain = pipe("a blue slime", 2, generator=0, config=FAST, guidance=0)
    guided = pipe("a blue slime", 2, generator=0, config=FAST, guidance=4)
    assert not torch.equal(plain.x, guided.x)
    default = pipe("a blue slime", 2, generator=0)
    assert default.info["guidance"] == pipe.guidance and default.info["steps"] == 25
    # A config without guidance= keeps its own weight (the explicit choice wins).
    assert pipe("a blue slime", 2, generator=0, config=FAST).info["guidance"] == 0.0


def test_prompts_expand_and_the_empty_prompt_is_the_null_caption(pipe):
    result = pipe(["a red potion", "a blue slime"], 4, generator=0, config=FAST)
    assert result.prompts == ["a red potion"] * 2 + ["a blue slime"] * 2
    assert len(pipe("a red potion", generator=0, config=FAST).images) == DEFAULT_N
    context = pipe.encode_prompts(["", "a red potion", "  "])
    assert context[0].abs().sum() == 0 and context[2].abs().sum() == 0
    assert (context[1].abs().sum(-1) > 0).sum() == 5  # <bos> a red potion <eos>
    # Conditional and unconditional rows in one batch are each as if alone.
    mixed = pipe(["", "a red potion"], 2, generator=0, config=SamplerConfig(steps=2), guidance=2)
    assert torch.isfinite(mixed.x).all()


def test_bad_prompts_and_counts_are_one_line_errors(pipe):
    with pytest.raises(ParameterError, match="unknown word 'potoin'.*nearest known words: potion"):
        pipe("a red potoin", 2, config=FAST)
    for n in (0, -1, 2.5, True):
        with pytest.raises(ParameterError, match="n must be an integer >= 1"):
            pipe("a red potion", n, config=FAST)
    with pytest.raises(ParameterError, match="multiple of the number of prompts"):
        pipe(["a red potion", "a blue slime"], 3, config=FAST)
    with pytest.raises(ParameterError, match="n must be at most"):
        pipe("a red potion", 10**6, config=FAST)


def test_trajectory_is_decoded_to_sprites(pipe):
    result = pipe("a red potion", 2, generator=0, config=FAST, trajectory_every=1)
    assert len(result.trajectory) == 4  # the noise, 3 steps
    assert all(frame.shape == (2, 3, 16, 16) for frame in result.trajectory)
    assert torch.equal(result.trajectory[-1], result.x)
    assert result.as_sample_result().images.shape == (2, 3, 16, 16)


def test_save_load_round_trip(pipe, saved):
    loaded = Txt2ImgPipeline.load(saved)
    assert loaded.tokenizer == pipe.tokenizer
    assert loaded.schedule.config == pipe.schedule.config
    assert loaded.latent_scaling == pipe.latent_scaling
    assert loaded.guidance == pipe.guidance
    for name in ("vae", "text_encoder", "unet"):
        assert getattr(loaded, name).config == getattr(pipe, name).config
    a = pipe("a purple shield", 3, generator=1, config=FAST)
    b = loaded("a purple shield", 3, generator=1, config=FAST)
    assert (a.images == b.images).all()


def test_txt2img_is_reproducible_with_a_seed(saved):
    a = txt2img("a green slime", 3, checkpoint=saved, seed=11, steps=3)
    b = txt2img("a green slime", 3, checkpoint=saved, seed=11, steps=3)
    c = txt2img("a green slime", 3, checkpoint=saved, seed=12, steps=3)
    assert (a.images == b.images).all() and not (a.images == c.images).all()
    assert a.info["seed"] == 11 and a.info["steps"] == 3
    drawn = txt2img("a green slime", 1, checkpoint=saved, steps=2)
    assert isinstance(drawn.info["seed"], int)  # a fresh seed, reported
    again = txt2img("a green slime", 1, checkpoint=saved, steps=2, seed=drawn.info["seed"])
    assert (again.images == drawn.images).all()


def test_missing_and_malformed_files_are_refused_in_one_line(pipe, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        Txt2ImgPipeline.load(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable"):
        Txt2ImgPipeline.load(junk)

    def check(data, match):
        path = tmp_path / "bad.pt"
        torch.save(data, path)
        with pytest.raises(DataError, match=match) as info:
            Txt2ImgPipeline.load(path)
        assert "\n" not in str(info.value) and "bad.pt" in str(info.value)

    good = pipe.to_dict()
    check({"weights": 1}, "is not a diffprob txt2img pipeline")
    check([1, 2], "is not a diffprob txt2img pipeline")
    check({**good, "format_version": 9}, "format version 9")
    check({**good, "unet": {"config": good["unet"]["config"]}}, "no well-formed 'unet' entry")
    wrong = {k: v.clone() for k, v in good["unet"]["state_dict"].items()}
    wrong["conv_in.weight"] = torch.zeros(1, 2, 3)
    check(
        {**good, "unet": {**good["unet"], "state_dict": wrong}},
        "unet weights that do not fit.*wrong shape conv_in.weight",
    )
    check(
        {**good, "unet": {**good["unet"], "config": {**good["unet"]["config"], "width": 10**6}}},
        "invalid unet configuration: width must be at most",
    )
    check(
        {**good, "latent_scaling": {"shift": [0.0] * 4, "scale": [-1.0] * 4}},
        "every scale must be > 0",
    )
    check(
        {**good, "latent_scaling": {"shift": [0.0], "scale": [1.0]}},
        "is for 1 channel\\(s\\), the latents have 4",
    )
    old = {k: v for k, v in good.items() if k != "latent_scaling"}  # one global factor
    assert (
        Txt2ImgPipeline.from_dict({**old, "latent_scale_factor": 2.0}).latent_scaling.scale
        == (2.0,) * 4
    )
    check({**good, "tokenizer": {"vocabulary": []}}, "is malformed: a tokenizer dict has the keys")
    check({**good, "schedule": {"num_timesteps": 0}}, "num_timesteps must be")
    nan = {k: v.clone() for k, v in good["vae"]["state_dict"].items()}
    nan[next(iter(nan))][...] = float("nan")
    check({**good, "vae": {**good["vae"], "state_dict": nan}}, "non-finite vae weights")


def test_parts_that_do_not_fit_are_refused():
    pipe = Txt2ImgPipeline.tiny()
    from diffprob.stable_diffusion.text_unet import TextUNet, get_config

    with pytest.raises(ParameterError, match="reads 32-wide tokens, the text encoder gives 16"):
        Txt2ImgPipeline(
            pipe.vae,
            pipe.text_encoder,
            pipe.tokenizer,
            TextUNet(get_config("tiny", context_dim=32)),
            pipe.schedule,
            1.0,
        )
    with pytest.raises(ParameterError, match="guidance must be"):
        Txt2ImgPipeline.tiny(guidance=-1)


def test_the_shipped_pipeline_path():
    path = resolve_txt2img_path(None) if _shipped() else None
    if path is None:
        with pytest.raises(CheckpointError, match="train-txt2img"):
            resolve_txt2img_path(None)
    else:
        assert path.name == "txt2img.pt"


def _shipped() -> bool:
    from diffprob.stable_diffusion.pipeline import default_txt2img_path

    return default_txt2img_path().is_file()
