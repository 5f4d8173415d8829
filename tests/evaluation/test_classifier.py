"""The sprite classifier: trains fast, generalises, saves and loads safely; its CLI."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from diffprob.cli import main
from diffprob.errors import CheckpointError, DataError, ParameterError, TrainingDivergedError
from diffprob.evaluation.classifier import (
    SpriteClassifier,
    classifier_accuracy,
    default_classifier_path,
    extract_features,
    load_classifier,
    predict,
    save_classifier,
)
from diffprob.evaluation.classifier_training import train_classifier
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites


@pytest.fixture(scope="module")
def trained():
    images, labels = generate_sprites(400, seed=11)
    model = train_classifier(
        (images, labels, CLASSES), steps=250, seed=0, batch_size=32, width=8, lr=1e-2
    )
    return model


@pytest.fixture(scope="module")
def held_out():
    return generate_sprites(500, seed=12)


def test_few_hundred_sprites_train_to_over_90_percent(trained, held_out):
    images, labels = held_out
    assert trained.class_names == CLASSES
    assert classifier_accuracy(trained, images, labels) > 0.9
    assert trained.train_info["steps"] == 250 and trained.train_info["n_train"] == 400


def test_training_is_seeded():
    images, labels = generate_sprites(64, seed=1)
    a = train_classifier((images, labels), steps=3, seed=5, batch_size=16, width=8)
    b = train_classifier((images, labels), steps=3, seed=5, batch_size=16, width=8)
    c = train_classifier((images, labels), steps=3, seed=6, batch_size=16, width=8)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.head.weight, c.head.weight)


def test_features_are_the_penultimate_layer(trained, held_out):
    images = held_out[0][:10]
    feats = extract_features(trained, images, batch_size=3)
    assert feats.shape == (10, trained.feature_dim) and feats.dtype == np.float64
    logits = trained.head(torch.from_numpy(feats).float())
    np.testing.assert_array_equal(logits.argmax(1).numpy(), predict(trained, images))
    # uint8 NHWC and the model range give the same features.
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    np.testing.assert_allclose(extract_features(trained, x), feats, rtol=1e-5, atol=1e-6)


def test_a_sample_does_not_depend_on_its_batch(trained, held_out):
    images = held_out[0][:8]
    together = extract_features(trained, images)
    alone = np.concatenate([extract_features(trained, images[i : i + 1]) for i in range(8)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_save_load_round_trip(trained, held_out, tmp_path):
    path = save_classifier(trained, tmp_path / "sub" / "clf.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["class_names"] == list(CLASSES)
    loaded = load_classifier(path)
    assert loaded.class_names == CLASSES and loaded.image_size == 16
    images = held_out[0][:20]
    np.testing.assert_array_equal(
        extract_features(loaded, images), extract_features(trained, images)
    )
    assert not any(p.name.endswith(".tmp") for p in path.parent.iterdir())


def test_shipped_classifier(held_out):
    path = default_classifier_path()
    assert path.is_file() and path.stat().st_size < 1_000_000
    model = load_classifier()
    assert model.class_names == CLASSES and model.image_size == 16
    images, labels = held_out
    assert classifier_accuracy(model, images, labels) > 0.98


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_classifier(garbage)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError, match="not a diffprob sprite-classifier"):
        load_classifier(other)


def test_input_checks(trained):
    with pytest.raises(ParameterError, match="16x16"):
        predict(trained, np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ParameterError):
        predict(trained, np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(DataError):
        train_classifier((np.zeros((4, 16, 16, 3), np.uint8), np.zeros(3, int)), steps=1)
    with pytest.raises(ParameterError):
        train_classifier(generate_sprites(8), steps=0)
    with pytest.raises(ParameterError):
        SpriteClassifier(1)


# -- CLI --------------------------------------------------------------------------------------
def test_cli_train_and_eval(tmp_path, capsys):
    out = tmp_path / "clf.pt"
    status = main(
        [
            "classifier",
            "train",
            "--steps",
            "3",
            "--n",
            "100",
            "--n-test",
            "50",
            "--width",
            "8",
            "--batch-size",
            "16",
            "-o",
            str(out),
            "--json",
        ]
    )
    assert status == 0 and out.is_file()
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["n_train"] == 100 and summary["n_test"] == 50
    assert 0 <= summary["accuracy"] <= 1
    assert np.sum(summary["confusion"]) == 50
    assert main(["classifier", "eval", "--classifier", str(out), "--n-test", "25"]) == 0
    assert "held-out accuracy" in capsys.readouterr().out


def test_cli_train_from_npz(tmp_path, capsys):
    from diffprob.sprites.dataset import load_sprite_data

    data_path = tmp_path / "sprites.npz"
    load_sprite_data("sprites", n=60, seed=3).save(data_path)
    out = tmp_path / "npz.pt"
    assert (
        main(
            [
                "classifier",
                "train",
                "--data",
                str(data_path),
                "--steps",
                "2",
                "--width",
                "8",
                "--batch-size",
                "8",
                "--test-fraction",
                "0.5",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "on 30 sprites" in capsys.readouterr().out
    # Refuses to write over its input.
    assert (
        main(
            ["classifier", "train", "--data", str(data_path), "--steps", "1", "-o", str(data_path)]
        )
        == 1
    )


def test_cli_bad_width_writes_nothing(tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert main(["classifier", "train", "--width", "12", "-o", str(out)]) == 1
    assert "multiple of 8" in capsys.readouterr().err
    assert not out.exists()


def test_cli_subprocess_bad_input(tmp_path):
    missing = tmp_path / "nope.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "diffprob", "classifier", "eval", "--classifier", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr and "not found" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# -- divergence, outputs, unsafe files ------------------------------------------------------
SMALL = ["classifier", "train", "--steps", "3", "--n", "64", "--n-test", "20", "--width", "8"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_diverging_classifier_is_refused_and_never_saved(trained, tmp_path, capsys):
    images, labels = generate_sprites(32, seed=1)
    with pytest.raises(TrainingDivergedError, match="loss is (nan|inf) at step"):
        train_classifier((images, labels), steps=20, batch_size=16, width=8, lr=1e30)
    out = tmp_path / "nan.pt"
    assert main([*SMALL, "--steps", "20", "--lr", "1e30", "-o", str(out)]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("diffprob classifier: error: classifier training diverged"), last
    assert not out.exists()
    # Non-finite weights are neither saved nor loaded.
    broken = SpriteClassifier(5, width=8)
    with torch.no_grad():
        broken.head.weight.fill_(float("nan"))
    with pytest.raises(ParameterError, match="not finite"):
        save_classifier(broken, out)
    assert not out.exists()
    save_classifier(trained, out)
    state = torch.load(out, weights_only=True)
    state["state_dict"]["head.bias"][0] = float("inf")
    torch.save(state, out)
    with pytest.raises(CheckpointError, match="non-finite weights .'head.bias'."):
        load_classifier(out)


def test_cli_train_output_errors_are_one_line(tmp_path, capsys):
    assert main([*SMALL, "--lr", "-1", "-o", str(tmp_path / "a.pt")]) == 1
    assert "--lr must be > 0" in _one_line_error(capsys)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for unwritable in (blocker / "x.pt", "/proc/diffprob_classifier.pt"):
        assert main([*SMALL, "-o", str(unwritable)]) == 1
        assert "cannot write" in _one_line_error(capsys)
    # An existing file (by default the shipped classifier) needs --force.
    existing = tmp_path / "existing.pt"
    existing.write_bytes(b"keep me")
    assert main([*SMALL, "-o", str(existing)]) == 1
    assert "exists; pass --force" in _one_line_error(capsys)
    assert existing.read_bytes() == b"keep me"
    assert main([*SMALL, "-o", str(existing), "--force"]) == 0
    assert load_classifier(existing).n_classes == 5
    assert list(tmp_path.glob(".*.tmp")) == []


def test_a_file_with_pickled_objects_is_not_loaded_and_no_unsafe_advice(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "diffprob-sprite-classifier", "x": SimpleClass()}, evil)
    with pytest.raises(CheckpointError) as exc:
        load_classifier(evil)
    message = str(exc.value)
    assert "was not loaded" in message and "weights_only" not in message
    assert len(message.splitlines()) == 1


class SimpleClass:
    pass
