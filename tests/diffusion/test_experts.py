"""Low-noise experts: routing by timestep, training on t <= t_max, storing, the CLI."""

import json
from types import SimpleNamespace

import pytest
import torch

import diffprob.diffusion.training.train as training
from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint, load_model
from diffprob.diffusion.models.experts import NoiseLevelExperts, add_experts
from diffprob.diffusion.models.unet import build_unet
from diffprob.diffusion.sampling import sample
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.diffusion.training.config import TrainConfig
from diffprob.diffusion.training.train import train
from diffprob.errors import CheckpointError, ParameterError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites

T = 50


def _net(seed):
    torch.manual_seed(seed)
    return build_unet("tiny").eval()


def _ckpt(net, t_max=None, schedule=None, **extra):
    train_config = TrainConfig(steps=1, t_max=t_max).to_dict()
    return Checkpoint.from_model(
        net,
        schedule or NoiseSchedule(T),
        ema_model=net,
        class_names=CLASSES,
        data_source="sprites-test",
        train_config=train_config,
        **extra,
    )


# -- routing -------------------------------------------------------------------------------
def test_each_timestep_goes_to_the_expert_that_owns_it():
    base, low, mid = _net(0), _net(1), _net(2)
    model = NoiseLevelExperts(base, [(20, mid), (5, low)], num_timesteps=T)
    steps = torch.tensor([1, 5, 6, 20, 21, 50, 3, 33])
    owner = [low, low, mid, mid, base, base, low, base]
    x = torch.randn(len(steps), 3, 16, 16, generator=torch.Generator().manual_seed(0))
    context = torch.eye(5)[torch.arange(len(steps)) % 5]
    with torch.no_grad():
        mixed = model(x, steps / T, context)
        for i, network in enumerate(owner):
            alone = network(x[i : i + 1], steps[i : i + 1] / T, context[i : i + 1])
            torch.testing.assert_close(mixed[i : i + 1], alone, rtol=1e-4, atol=1e-5)
    assert model.t_max == [5, 20] and model.base is base and model.config == base.config


@pytest.mark.parametrize(
    "experts, match",
    [([], "at least one"), ([(5, None), (5, None)], "distinct"), ([(50, None)], r"\[1, 49\]")],
)
def test_bad_expert_ranges_are_refused(experts, match):
    experts = [(t, _net(1)) for t, _ in experts]
    with pytest.raises(ParameterError, match=match):
        NoiseLevelExperts(_net(0), experts, num_timesteps=T)


# -- training an expert ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sprites():
    images, labels = generate_sprites(32, seed=0)
    return SimpleNamespace(images=images, labels=labels, class_names=CLASSES, source="sprites-32")


def test_training_with_t_max_draws_only_low_timesteps(sprites, monkeypatch):
    seen = []
    real_build = training.build_unet

    def build_and_watch(config):
        model = real_build(config)
        model.register_forward_pre_hook(lambda module, args: seen.append(args[1].clone()))
        return model

    monkeypatch.setattr(training, "build_unet", build_and_watch)
    config = TrainConfig(steps=30, batch_size=8, t_max=3, log_every=10, checkpoint_every=0)
    result = train(sprites, "tiny", config, schedule=NoiseSchedule(T), device="cpu", progress=False)
    steps = torch.round(torch.cat(seen[:30]) * T).long()  # training calls; previews come after
    assert set(steps.tolist()) == {1, 2, 3}
    assert result.checkpoint.train_config["t_max"] == 3


@pytest.mark.parametrize("t_max", [0, T + 1])
def test_t_max_outside_1_to_T_is_refused(sprites, t_max):
    with pytest.raises(ParameterError, match="t_max"):
        train(
            sprites,
            "tiny",
            TrainConfig(steps=1, batch_size=8, t_max=t_max),
            schedule=NoiseSchedule(T),
            device="cpu",
            progress=False,
        )


# -- storing experts in a checkpoint -------------------------------------------------------------
def test_a_combined_checkpoint_round_trips_and_samples(tmp_path):
    base, low = _net(0), _net(1)
    path = tmp_path / "combined.pt"
    add_experts(_ckpt(base), [_ckpt(low, t_max=10)]).save(path)
    model, schedule, names = load_model(path)
    assert isinstance(model, NoiseLevelExperts) and model.t_max == [10] and names == CLASSES
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x, torch.tensor(10 / T)), low(x, torch.tensor(10 / T)))
        torch.testing.assert_close(model(x, torch.tensor(11 / T)), base(x, torch.tensor(11 / T)))
    alone, _, _ = load_model(path, experts=False)
    assert not isinstance(alone, NoiseLevelExperts)
    # An expert identical to its base changes no sample: the samplers see one network.
    same = tmp_path / "same.pt"
    add_experts(_ckpt(base), [_ckpt(base, t_max=10)]).save(same)
    draws = [
        sample(load_model(p)[0], schedule, 3, steps=10, context=1, generator=4, progress=False)
        for p in (same, path)
    ]
    base_draw = sample(base, schedule, 3, steps=10, context=1, generator=4, progress=False)
    torch.testing.assert_close(draws[0].images, base_draw.images)
    assert not torch.allclose(draws[1].images, base_draw.images)


def test_experts_that_do_not_fit_the_base_are_refused():
    base = _ckpt(_net(0))
    with pytest.raises(CheckpointError, match="trained on all timesteps"):
        add_experts(base, [_ckpt(_net(1))])
    other = _ckpt(_net(1), t_max=10, schedule=NoiseSchedule(T, prediction_type="v_prediction"))
    with pytest.raises(CheckpointError, match="schedule mismatch"):
        add_experts(base, [other])
    wide = Checkpoint.from_model(
        build_unet("small"),
        NoiseSchedule(T),
        class_names=CLASSES,
        data_source="sprites-test",
        train_config=TrainConfig(t_max=10).to_dict(),
    )
    with pytest.raises(CheckpointError, match="model config mismatch"):
        add_experts(base, [wide])
    with pytest.raises(ParameterError, match=r"t_max must be in \[1, 10\]"):
        add_experts(base, [_ckpt(_net(1), t_max=10)], t_max=[11])
    with pytest.raises(CheckpointError, match="share a t_max"):
        add_experts(base, [_ckpt(_net(1), t_max=10), _ckpt(_net(2), t_max=10)])
    combined = add_experts(base, [_ckpt(_net(1), t_max=10)])
    with pytest.raises(CheckpointError, match="already holds experts"):
        add_experts(combined, [_ckpt(_net(2), t_max=5)])


def test_a_malformed_expert_entry_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "bad.pt"
    _ckpt(_net(0), experts=[{"t_max": "ten"}]).save(path)
    with pytest.raises(CheckpointError, match="malformed expert"):
        Checkpoint.load(path)


# -- the CLI ---------------------------------------------------------------------------------
def test_the_experts_command_combines_and_never_overwrites_an_input(tmp_path, capsys):
    base, low = tmp_path / "base.pt", tmp_path / "low.pt"
    _ckpt(_net(0)).save(base)
    _ckpt(_net(1), t_max=10).save(low)
    out = tmp_path / "both.pt"
    assert main(["experts", str(base), str(low), "-o", str(out), "--t-max", "8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["experts"] == [{"path": str(low), "t_max": 8, "step": 0}]
    assert load_model(out)[0].t_max == [8]

    before = base.read_bytes()
    assert main(["experts", str(base), str(low), "-o", str(base), "--force"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "input" in err and base.read_bytes() == before
    assert main(["experts", str(base), str(low), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["experts", str(base), str(base), "-o", str(tmp_path / "x.pt")]) == 1
    assert "trained on all timesteps" in capsys.readouterr().err
