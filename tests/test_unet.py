"""The context U-Net: shapes, registration of every layer, determinism, configs."""

import pytest
import torch

from diffprob.errors import ParameterError
from diffprob.unet import CONFIGS, ContextUnet, UNetConfig, _groups, count_parameters, get_config


def _model(seed=0, **overrides):
    torch.manual_seed(seed)
    return ContextUnet(get_config("tiny", **overrides)).eval()


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("time_embedding", ["mlp", "sinusoidal"])
def test_output_shape_matches_input(size, time_embedding):
    model = _model(image_size=size, time_embedding=time_embedding)
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


def test_state_dict_round_trip_gives_identical_outputs():
    a, b = _model(seed=1), _model(seed=2)
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


def test_same_seed_same_weights_different_seed_different():
    a, b, c = _model(seed=5), _model(seed=5), _model(seed=6)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(
        not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )


def test_none_context_is_the_zero_context_and_context_matters():
    model = _model()
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    assert torch.equal(model(x, t, None), model(x, t, torch.zeros(2, 5)))
    assert not torch.allclose(model(x, t, torch.eye(5)[:2]), model(x, t, torch.zeros(2, 5)))


def test_scalar_t_is_broadcast():
    model = _model()
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(model(x, torch.tensor(0.3)), model(x, torch.full((3,), 0.3)))


def test_each_sample_is_independent_of_its_batch():
    # GroupNorm, not BatchNorm: guided and unguided passes can share a batch.
    model = _model().train()
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
    with pytest.raises(ParameterError, match="unknown model configuration keys"):
        UNetConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_bad_input_shapes_raise():
    model = _model()
    with pytest.raises(ParameterError, match="expected images"):
        model(torch.zeros(1, 3, 32, 32), torch.zeros(1))
    with pytest.raises(ParameterError, match="context must have shape"):
        model(torch.zeros(2, 3, 16, 16), torch.zeros(2), torch.zeros(2, 4))
