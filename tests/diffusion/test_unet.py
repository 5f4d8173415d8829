"""The U-Nets (course and DDPM-style): shapes, registration of every layer, determinism, configs."""

import pytest
import torch

from diffprob.diffusion.models.ddpm_unet import DDPMUnet
from diffprob.diffusion.models.unet import (
    CONFIGS,
    ContextUnet,
    UNetConfig,
    _groups,
    build_unet,
    count_parameters,
    get_config,
)
from diffprob.errors import ParameterError

ARCHITECTURES = pytest.mark.parametrize("architecture", ["course", "ddpm"])


def _model(seed=0, fresh=False, **overrides):
    torch.manual_seed(seed)
    model = build_unet(get_config("tiny", **overrides)).eval()
    if not fresh:
        # The DDPM U-Net zero-initialises the last layer of each residual branch, so a
        # fresh one ignores t and the context; wake those layers to test the wiring.
        with torch.no_grad():
            for p in model.parameters():
                if not p.any():
                    p.normal_(0, 0.1)
    return model


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize(
    "overrides",
    [
        {"time_embedding": "mlp"},
        {"time_embedding": "sinusoidal"},
        {"architecture": "ddpm"},
        {"architecture": "ddpm", "time_embedding": "sinusoidal"},
    ],
)
def test_output_shape_matches_input(size, overrides):
    model = _model(image_size=size, **overrides)
    x = torch.randn(3, 3, size, size)
    out = model(x, torch.tensor([0.0, 0.5, 1.0]), torch.eye(5)[:3])
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_bottleneck_is_one_pixel_at_both_sizes():
    # The course hard-coded a 4x4 pool: right at 16x16 only.
    captured = {}

    def hook(module, inputs, output):
        captured["shape"] = output.shape

    for size in (16, 32):
        model = _model(image_size=size)
        model.to_vec.register_forward_hook(hook)
        model(torch.zeros(1, 3, size, size), torch.zeros(1))
        assert captured["shape"][2:] == (1, 1)


@ARCHITECTURES
def test_state_dict_round_trip_gives_identical_outputs(architecture):
    a, b = _model(seed=1, architecture=architecture), _model(seed=2, architecture=architecture)
    x, t, c = torch.randn(4, 3, 16, 16), torch.rand(4), torch.eye(5)[[0, 1, 2, 4]]
    assert not torch.equal(a(x, t, c), b(x, t, c))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x, t, c), b(x, t, c))


def test_no_layer_is_created_in_forward():
    # The course built a random 1x1 shortcut conv inside forward(): outputs then
    # depended on the global RNG and the layer was missing from the state_dict.
    model = _model()
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    names_before = [name for name, _ in model.named_modules()]
    torch.manual_seed(123)
    first = model(x, t)
    torch.manual_seed(456)
    second = model(x, t)
    assert torch.equal(first, second)
    assert [name for name, _ in model.named_modules()] == names_before
    # ...and the shortcut of the 3 -> n_feat block is a registered, trained conv.
    assert "init_conv.shortcut.weight" in model.state_dict()
    assert model.init_conv.shortcut.weight.requires_grad


@ARCHITECTURES
def test_same_seed_same_weights_different_seed_different(architecture):
    a, b, c = (_model(seed=s, architecture=architecture) for s in (5, 5, 6))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(
        not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )


@ARCHITECTURES
def test_none_context_is_the_zero_context_and_context_matters(architecture):
    model = _model(architecture=architecture)
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    assert torch.equal(model(x, t, None), model(x, t, torch.zeros(2, 5)))
    assert not torch.allclose(model(x, t, torch.eye(5)[:2]), model(x, t, torch.zeros(2, 5)))


@ARCHITECTURES
def test_scalar_t_is_broadcast(architecture):
    model = _model(architecture=architecture)
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(model(x, torch.tensor(0.3)), model(x, torch.full((3,), 0.3)))


@ARCHITECTURES
def test_each_sample_is_independent_of_its_batch(architecture):
    # GroupNorm, not BatchNorm: guided and unguided passes can share a batch.
    model = _model(architecture=architecture).train()
    x, t, c = torch.randn(4, 3, 16, 16), torch.rand(4), torch.eye(5)[:4]
    together = model(x, t, c)
    alone = torch.cat([model(x[i : i + 1], t[i : i + 1], c[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)  # BatchNorm: O(1)


@pytest.mark.parametrize("width", [1, 3, 5, 6, 12, 20])
def test_groupnorm_groups_divide_any_width(width):
    assert width % _groups(width) == 0 and 1 <= _groups(width) <= 8
    model = ContextUnet(UNetConfig("w", n_feat=width, n_cfeat=2))
    out = model(torch.randn(2, 3, 16, 16), torch.rand(2), torch.eye(2))
    assert out.shape == (2, 3, 16, 16)


def test_named_configs():
    assert set(CONFIGS) >= {"tiny", "small", "course"}
    course = ContextUnet("course")
    assert course.config.n_feat == 64 and course.config.n_cfeat == 5
    assert 1_400_000 < count_parameters(course) < 1_600_000  # the course's ~1.5M
    assert count_parameters(ContextUnet("tiny")) < 50_000
    assert count_parameters(ContextUnet("small")) < 1_000_000
    sprite = build_unet("sprite")
    assert isinstance(sprite, DDPMUnet) and sprite.config.architecture == "ddpm"
    assert count_parameters(sprite) < 1_000_000


def test_ddpm_unet_conditions_every_block_and_starts_as_identity_blocks():
    model = _model(architecture="ddpm", fresh=True)
    blocks = [m for m in model.modules() if hasattr(m, "to_scale_shift")]
    assert len(blocks) == 8  # 3 encoder, 2 middle, 3 decoder: each sees t and the class
    # Zero-initialised last convolutions: a fresh residual block returns its shortcut.
    x, emb = torch.randn(2, 8, 16, 16), torch.randn(2, 32)
    torch.testing.assert_close(model.enc1(x, emb), x)
    # The encoder sees the timestep: a changed t changes the first block's output.
    for p in model.enc1.conv2.parameters():
        torch.nn.init.normal_(p)
    t_emb = [model.time_mlp(model.time_features(torch.tensor([[t]]))) for t in (0.1, 0.9)]
    assert not torch.allclose(model.enc1(x[:1], t_emb[0]), model.enc1(x[:1], t_emb[1]))


def test_checkpoints_from_before_the_architecture_field_load_as_course():
    old = get_config("small").to_dict()
    del old["architecture"]
    assert UNetConfig.from_dict(old).architecture == "course"
    assert isinstance(build_unet(UNetConfig.from_dict(old)), ContextUnet)


def test_each_network_refuses_the_other_architecture():
    with pytest.raises(ParameterError, match="build_unet"):
        ContextUnet("sprite")
    with pytest.raises(ParameterError, match="build_unet"):
        DDPMUnet(get_config("small"))


def test_config_round_trip_and_errors():
    cfg = get_config("small", image_size=32)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ParameterError, match="unknown model config"):
        get_config("huge")
    with pytest.raises(ParameterError, match="image_size"):
        UNetConfig(image_size=24)
    with pytest.raises(ParameterError, match="n_feat"):
        UNetConfig(n_feat=0)
    with pytest.raises(ParameterError, match="time_embedding"):
        UNetConfig(time_embedding="fourier")
    with pytest.raises(ParameterError, match="architecture"):
        UNetConfig(architecture="transformer")
    with pytest.raises(ParameterError, match="unknown model configuration keys"):
        UNetConfig.from_dict({**cfg.to_dict(), "depth": 3})


@ARCHITECTURES
def test_bad_input_shapes_raise(architecture):
    model = _model(architecture=architecture)
    with pytest.raises(ParameterError, match="expected images"):
        model(torch.zeros(1, 3, 32, 32), torch.zeros(1))
    with pytest.raises(ParameterError, match="context must have shape"):
        model(torch.zeros(2, 3, 16, 16), torch.zeros(2), torch.zeros(2, 4))
