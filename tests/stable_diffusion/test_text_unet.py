"""The text U-Net: shapes, the text changes the prediction, and the pixel samplers run on it."""

import pytest
import torch

from diffprob.diffusion.guidance import guided_eps
from diffprob.diffusion.models.inspect import model_image_shape
from diffprob.diffusion.models.unet import count_parameters
from diffprob.diffusion.sampling import sample
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ParameterError
from diffprob.stable_diffusion.text_unet import (
    CONFIGS,
    TextUNet,
    TextUNetConfig,
    get_config,
)


def trained_looking(model: TextUNet) -> TextUNet:
    """Randomise the zero-initialised output layers, so that every path is open."""
    torch.manual_seed(1)
    for p in model.parameters():
        if p.abs().sum() == 0 and p.ndim > 1:
            torch.nn.init.normal_(p, std=0.2)
    return model.eval()


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return trained_looking(TextUNet("tiny"))


def caption(batch=2, length=6, real=4, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(batch, length, dim, generator=g)
    text[:, real:] = 0
    return text


def test_shapes_and_image_shape_for_the_samplers(model):
    x = torch.randn(3, 4, 8, 8)
    out = model(x, torch.rand(3), caption(3))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert model(x, 0.3, caption(3)).shape == x.shape  # a scalar t is broadcast
    assert model_image_shape(model) == (4, 8, 8)


def test_the_text_changes_the_output(model):
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([0.2, 0.7])
    a = model(x, t, caption(seed=0))
    b = model(x, t, caption(seed=1))
    assert (a - b).abs().max() > 1e-3
    assert (a - model(x, t, None)).abs().max() > 1e-3


def test_padding_and_null_caption(model):
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([0.2, 0.7])
    text = caption()
    padded = torch.cat([text, torch.zeros(2, 3, 16)], dim=1)
    assert torch.allclose(model(x, t, padded), model(x, t, text), atol=1e-5)
    assert torch.equal(model(x, t, None), model(x, t, torch.zeros_like(text)))
    # One caption null, the other not: each row as if alone.
    mixed = text.clone()
    mixed[1] = 0
    out = model(x, t, mixed)
    assert torch.allclose(out[1:], model(x[1:], t[1:], None), atol=1e-5)
    assert torch.allclose(out[:1], model(x[:1], t[:1], text[:1]), atol=1e-5)


def test_guided_eps_and_sample_run_unchanged(model):
    x, t, text = torch.randn(2, 4, 8, 8), torch.full((2,), 0.5), caption()
    cond, uncond = model(x, t, text), model(x, t, None)
    guided = guided_eps(model, x, t, text, 2.0)
    assert torch.allclose(guided, 3 * cond - 2 * uncond, atol=1e-5)

    schedule = NoiseSchedule(50)
    kwargs = dict(steps=5, guidance=2.0, clip_x0=False, progress=False)
    first = sample(model, schedule, 2, context=text, generator=0, **kwargs)
    again = sample(model, schedule, 2, context=text, generator=0, **kwargs)
    assert first.images.shape == (2, 4, 8, 8)
    assert torch.equal(first.images, again.images)
    assert first.context.shape == text.shape
    unguided = sample(model, schedule, 2, context=text, generator=0, **{**kwargs, "guidance": 0})
    assert not torch.equal(first.images, unguided.images)
    for sampler in ("ddim", "ddpm"):
        steps = None if sampler == "ddpm" else 5
        out = sample(
            model,
            schedule,
            2,
            context=text,
            generator=0,
            **{**kwargs, "sampler": sampler, "steps": steps},
        )
        assert torch.isfinite(out.images).all()


def test_sample_refuses_a_context_of_the_wrong_batch(model):
    with pytest.raises(ParameterError, match=r"\(2, L, D\)"):
        sample(model, NoiseSchedule(10), 2, context=caption(3), steps=2, progress=False)


def test_forward_refuses_bad_shapes(model):
    with pytest.raises(ParameterError, match="latents of shape"):
        model(torch.randn(1, 3, 8, 8), 0.5, None)
    with pytest.raises(ParameterError, match="context must have shape"):
        model(torch.randn(1, 4, 8, 8), 0.5, torch.randn(1, 3, 7))
    with pytest.raises(ParameterError, match="t must have shape"):
        model(torch.randn(2, 4, 8, 8), torch.rand(3), None)


def test_config_round_trip_and_refusals():
    config = TextUNetConfig("mine", width=16, deep_width=32, context_dim=24, heads=4)
    assert TextUNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ParameterError, match="unknown text U-Net configuration keys"):
        TextUNetConfig.from_dict({**config.to_dict(), "depth": 3})
    with pytest.raises(ParameterError, match="width must be at most 512"):
        TextUNetConfig(width=10**6)
    with pytest.raises(ParameterError, match="image_size must be even"):
        TextUNetConfig(image_size=7)
    with pytest.raises(ParameterError, match="integer >= 1"):
        TextUNetConfig(heads=0)
    with pytest.raises(ParameterError, match="unknown text U-Net config"):
        get_config("huge")


def test_default_size_is_within_the_budget():
    with torch.device("meta"):  # no memory, no init cost
        model = TextUNet(CONFIGS["small"])
    assert 300_000 < count_parameters(model) < 1_500_000
