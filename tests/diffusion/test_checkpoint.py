"""Checkpoint files: round trip, weights_only loading, clear errors."""

import pytest
import torch

import diffprob.diffusion.checkpoint as checkpoint_module
from diffprob.diffusion.checkpoint import FORMAT_VERSION, Checkpoint, load_model
from diffprob.diffusion.models.unet import ContextUnet, get_config
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import CheckpointError


def _checkpoint(seed=0, **extra):
    torch.manual_seed(seed)
    model = ContextUnet("tiny")
    ema = ContextUnet("tiny")
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 3, 16, 16), torch.zeros(1)).sum().backward()
    optimizer.step()
    return (
        model,
        ema,
        Checkpoint.from_model(
            model,
            NoiseSchedule(100, "cosine"),
            ema_model=ema,
            class_names=["a", "b", "c", "d", "e"],
            optimizer_state=optimizer.state_dict(),
            step=7,
            epoch=1,
            data_source="sprites(n=10)",
            train_config={"batch_size": 4},
            metadata={"torch_version": torch.__version__},  # a str subclass: must be stored plain
            **extra,
        ),
    )


def test_round_trip_rebuilds_identical_models(tmp_path):
    model, ema, ckpt = _checkpoint()
    path = tmp_path / "run" / "c.pt"
    ckpt.save(path)
    loaded = Checkpoint.load(path)
    assert (loaded.step, loaded.epoch, loaded.class_names) == (7, 1, ("a", "b", "c", "d", "e"))
    assert loaded.data_source == "sprites(n=10)" and loaded.image_size == 16
    assert loaded.build_schedule().config == NoiseSchedule(100, "cosine").config
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    raw, averaged = loaded.build_model(ema=False), loaded.build_model(ema=True)
    assert not raw.training
    assert torch.equal(raw(x, t), model.eval()(x, t))
    assert torch.equal(averaged(x, t), ema.eval()(x, t))
    assert loaded.optimizer_state["state"][0]["step"] == 1


def test_file_loads_with_plain_torch_load_weights_only(tmp_path):
    _, _, ckpt = _checkpoint()
    ckpt.save(tmp_path / "c.pt")
    data = torch.load(tmp_path / "c.pt", weights_only=True)
    assert data["format_version"] == FORMAT_VERSION
    assert data["model_config"] == get_config("tiny").to_dict()
    assert type(data["metadata"]["torch_version"]) is str


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    _, _, ckpt = _checkpoint()
    path = tmp_path / "c.pt"
    ckpt.save(path)
    ckpt.step = 8
    ckpt.save(path)  # replaces
    assert Checkpoint.load(path).step == 8
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        Checkpoint.load(tmp_path / "nope.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable diffprob checkpoint"):
        Checkpoint.load(path)


def test_truncated_file(tmp_path):
    _, _, ckpt = _checkpoint()
    ckpt.save(tmp_path / "c.pt")
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        Checkpoint.load(tmp_path / "cut.pt")


def test_other_torch_files_and_versions_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a diffprob checkpoint"):
        Checkpoint.load(tmp_path / "other.pt")
    _, _, ckpt = _checkpoint()
    data = ckpt.to_dict()
    data["format_version"] = FORMAT_VERSION + 1
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version"):
        Checkpoint.load(tmp_path / "future.pt")
    data = ckpt.to_dict()
    data["model_config"]["image_size"] = 24
    torch.save(data, tmp_path / "invalid.pt")
    with pytest.raises(CheckpointError, match="image_size"):
        Checkpoint.load(tmp_path / "invalid.pt")


def test_weights_that_do_not_fit_the_config(tmp_path):
    _, _, ckpt = _checkpoint()
    ckpt.model_config = get_config("tiny", n_feat=16).to_dict()
    with pytest.raises(CheckpointError, match="do not fit"):
        ckpt.build_model(ema=False)


def test_config_mismatch_names_the_field():
    _, _, ckpt = _checkpoint()
    ckpt.check_compatible(get_config("tiny"), NoiseSchedule(100, "cosine").config)
    with pytest.raises(CheckpointError, match="n_feat=8 in the checkpoint but 32 requested"):
        ckpt.check_compatible(get_config("small", time_embedding="mlp"))
    with pytest.raises(CheckpointError, match="num_timesteps=100"):
        ckpt.check_compatible(get_config("tiny"), NoiseSchedule(500, "cosine").config)
    with pytest.raises(CheckpointError, match="batch_size=4 in the checkpoint but 8"):
        ckpt.check_compatible(get_config("tiny"), None, {"batch_size": 8})
    with pytest.raises(CheckpointError, match="architecture='course' in the checkpoint"):
        ckpt.check_compatible(get_config("tiny", architecture="ddpm"))
    # A checkpoint written before the architecture field existed is a course network.
    del ckpt.model_config["architecture"]
    ckpt.check_compatible(get_config("tiny"))


def test_export_for_inference_keeps_only_ema_weights(tmp_path):
    _, ema, ckpt = _checkpoint()
    ckpt.save(tmp_path / "full.pt")
    ckpt.export_for_inference(tmp_path / "small.pt")
    small = Checkpoint.load(tmp_path / "small.pt")
    assert small.optimizer_state is None and small.model_state is None
    assert small.metadata["exported_for_inference"] is True
    assert (tmp_path / "small.pt").stat().st_size < (tmp_path / "full.pt").stat().st_size / 2
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    assert torch.equal(small.build_model()(x, t), ema.eval()(x, t))
    with pytest.raises(CheckpointError, match="no raw"):
        small.build_model(ema=False)


def test_load_model_and_missing_default(tmp_path, monkeypatch):
    _, ema, ckpt = _checkpoint()
    ckpt.save(tmp_path / "c.pt")
    model, schedule, names = load_model(tmp_path / "c.pt")
    assert names == ("a", "b", "c", "d", "e") and schedule.num_timesteps == 100
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(model(x, torch.rand(1) * 0 + 0.5), ema.eval()(x, torch.tensor([0.5])))
    monkeypatch.setattr(checkpoint_module, "default_checkpoint_path", lambda: tmp_path / "none.pt")
    with pytest.raises(CheckpointError, match="not installed"):
        load_model()


def test_the_shipped_checkpoint_loads_and_samples_recognisable_sprites_on_the_cpu():
    from diffprob.diffusion.guidance import per_class_context
    from diffprob.diffusion.model_range import from_model_range
    from diffprob.diffusion.sampling import sample
    from diffprob.evaluation.classifier import classifier_accuracy, load_classifier

    path = checkpoint_module.default_checkpoint_path()
    assert path.is_file() and path.stat().st_size < 10_000_000
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["ema_state"] is not None and raw["optimizer_state"] is None  # inference only
    model, schedule, class_names = load_model()
    assert not model.training and next(model.parameters()).device.type == "cpu"
    per_class = 4
    result = sample(
        model,
        schedule,
        per_class * len(class_names),
        steps=20,
        context=per_class_context(len(class_names), per_class),
        generator=0,
        progress=False,
    )
    images = from_model_range(result.images)
    assert images.shape == (20, 16, 16, 3) and images.dtype.name == "uint8"
    labels = result.context.argmax(dim=1).numpy()
    # The shipped classifier tells the asked-for class from the picture (100 % at n = 500
    # in the model card); 20 samples leave room for one or two misses, not for noise.
    assert classifier_accuracy(load_classifier(), images, labels) >= 0.85
