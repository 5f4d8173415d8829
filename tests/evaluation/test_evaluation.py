"""evaluate(): structure, known answers with mock models, baselines, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import diffprob.evaluation.evaluate as evaluation
from diffprob.cli import main
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.models.unet import ContextUnet
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import CheckpointError, DataError, ParameterError
from diffprob.evaluation.evaluate import evaluate
from diffprob.evaluation.report import GROUP_LABELS, GROUPS, METRICS
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.generator import generate_sprites

SOURCE = "sprites(n=200, size=16, seed=0)"


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return ContextUnet("tiny").eval(), NoiseSchedule(20)


@pytest.fixture(scope="module")
def report(tiny):
    net, schedule = tiny
    return evaluate((net, schedule, CLASSES, SOURCE), n=25, steps=2, kid_subsets=5)


def test_report_structure(report):
    assert report.class_names == CLASSES
    assert list(report.overall) == list(GROUPS)
    assert set(report.per_class) == set(CLASSES)
    for group in GROUPS:
        metrics = report.overall[group]
        assert set(METRICS) <= set(metrics)
        assert {"tv_R", "js_bits_G", "w1_B", "joint_tv_RG", "joint_tv_GB", "joint_tv_RB"} <= set(
            metrics
        )
        assert all(np.isfinite(v) for v in metrics.values())
        assert 0 <= metrics["tv"] <= 1 and 0 <= metrics["js_bits"] <= 1
        assert report.images[group].shape == (25, 16, 16, 3)
    # n split evenly: 5 per class, the same in every group; the reference is large (drawn
    # from the generator) in the same proportions.
    assert report.settings["n_per_class"] == [5] * 5
    for group in GROUPS:
        np.testing.assert_array_equal(np.bincount(report.labels[group], minlength=5), [5] * 5)
    ref_counts = np.bincount(report.labels["reference"], minlength=5)
    assert report.settings["n_reference"] == evaluation.DEFAULT_REFERENCE_N == ref_counts.sum()
    np.testing.assert_array_equal(ref_counts, [1000] * 5)
    assert report.settings["steps"] == 2 and report.settings["n_train"] == 200


def test_headline_metrics_are_means_of_their_parts(report):
    m = report.overall["model"]
    assert m["tv"] == pytest.approx(np.mean([m["tv_R"], m["tv_G"], m["tv_B"]]))
    assert m["joint_tv"] == pytest.approx(
        np.mean([m["joint_tv_RG"], m["joint_tv_GB"], m["joint_tv_RB"]])
    )


def test_baselines_order_as_expected(report):
    real, indep, noise = (report.overall[g] for g in ("real", "independent_pixel", "noise"))
    # Real sprites: recognisable and close; noise: far on every count.
    assert real["accuracy"] >= 0.9
    for key in ("tv", "js_bits", "w1", "joint_tv", "fd"):
        assert noise[key] > real[key], key
    # Independent pixels: the right marginals but the wrong joint structure.
    assert indep["joint_tv"] > real["joint_tv"]
    assert indep["tv"] < noise["tv"]


def test_held_out_sets_are_new_sprites(report):
    train, _ = generate_sprites(200, seed=0)
    assert report.overall["real"]["exact_copies"] == 0
    assert report.overall["real"]["nn_train_min"] > 0
    flat_train = {im.tobytes() for im in train}
    # Fresh draws, not the training set: among 5,000 an item sprite may repeat a training
    # one by chance (the generator's own collision rate), never more than a few.
    copies = sum(im.tobytes() in flat_train for im in report.images["reference"])
    assert copies <= 5


def test_to_dict_is_strict_json(report):
    text = json.dumps(report.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["settings"]["n"] == 25 and data["class_names"] == list(CLASSES)
    assert set(data["per_class"]["hero"]) == set(GROUPS)


def test_table_lists_groups_and_classes(report):
    table = report.table()
    for name in (*GROUP_LABELS.values(), *CLASSES, "FD", "KID", "accuracy", "TV 256", "class TV"):
        assert name in table
    assert "class hero" not in report.table(per_class=False)


def test_every_headline_metric_has_its_interval_in_table_and_json(report):
    for group in GROUPS:
        for metric in METRICS:
            est = report.intervals[group][metric]
            assert est.value == report.overall[group][metric]
            # (a percentile interval of a biased figure at n = 25 may sit beside its value)
            assert est.low <= est.high and np.isfinite(est.half_width), (group, metric)
    data = report.to_dict()
    tv = report.intervals["model"]["tv"]
    assert data["overall"]["model"]["tv_ci"] == [tv.low, tv.high]
    assert data["settings"]["n_bootstrap"] == 200 and data["settings"]["confidence"] == 0.95
    assert tv.format() in report.table()
    assert (
        "real (2nd sample)" in data["groups"]["real"]
        or "second real sample" in data["groups"]["real"]
    )


def test_class_tv_and_exact_level_tv(report):
    m = report.overall["model"]
    per_class = [report.per_class[c]["model"]["tv"] for c in CLASSES]
    assert m["class_tv"] == pytest.approx(np.mean(per_class))
    assert m["tv_256"] >= m["tv"]  # merging levels into bins can only shrink TV


def test_seeded_runs_are_reproducible(tiny, report):
    net, schedule = tiny
    again = evaluate((net, schedule, CLASSES, SOURCE), n=25, steps=2, kid_subsets=5)
    assert again.overall == report.overall
    for group in report.images:
        np.testing.assert_array_equal(again.images[group], report.images[group])


def _mock_sampler(source_images, source_labels):
    """A stand-in for the sampler that returns given sprites of the asked-for classes."""

    def fake_sample(net, schedule, labels, n_classes, **kwargs):
        out = np.empty((len(labels), *source_images.shape[1:]), np.uint8)
        for c in np.unique(labels):
            rows = np.flatnonzero(labels == c)
            out[rows] = source_images[np.flatnonzero(source_labels == c)[: len(rows)]]
        return out

    return fake_sample


def test_a_model_that_copies_training_sprites_is_caught(tiny, monkeypatch):
    net, schedule = tiny
    train, train_labels = generate_sprites(200, seed=0)
    monkeypatch.setattr(evaluation, "_sample_model", _mock_sampler(train, train_labels))
    rep = evaluate((net, schedule, CLASSES, SOURCE), n=20, kid_subsets=3)
    model = rep.overall["model"]
    assert model["exact_copies"] == 1.0 and model["nn_train"] == 0.0
    assert model["accuracy"] >= 0.9  # real sprites of the right class


def test_a_perfect_model_scores_like_the_real_floor(tiny, monkeypatch):
    net, schedule = tiny
    fresh, fresh_labels = generate_sprites(400, seed=99)
    monkeypatch.setattr(evaluation, "_sample_model", _mock_sampler(fresh, fresh_labels))
    rep = evaluate((net, schedule, CLASSES, SOURCE), n=50, kid_subsets=10)
    model, real, indep = (rep.overall[g] for g in ("model", "real", "independent_pixel"))
    assert model["accuracy"] >= 0.95
    assert model["exact_copies"] == 0
    for key in ("tv", "joint_tv", "fd"):
        assert model[key] < 2.5 * real[key], key
    assert model["joint_tv"] < indep["joint_tv"]
    assert model["fd"] < indep["fd"]
    # KID is stratified by class: for sets of the true distribution it scatters around 0
    # instead of sitting near -2 Delta (1 - 1/K) / (m - 1) (class-balanced sets, see
    # kernel_distance), which is about -1.4 here; the baseline is far above.
    assert abs(model["kid"]) < 0.2 and abs(real["kid"]) < 0.2
    assert indep["kid"] > 10 * max(abs(model["kid"]), abs(real["kid"]))


def test_colour_pmf_bins_forgive_small_level_shifts(tiny, monkeypatch):
    # A model whose colours land 3 levels off the palette: exact-level PMFs (256 bins)
    # call almost every pixel a different colour; 8-level bins (the default 32) do not.
    net, schedule = tiny
    fresh, fresh_labels = generate_sprites(400, seed=99)
    shifted = np.clip(fresh.astype(int) - 3, 0, 255).astype(np.uint8)
    monkeypatch.setattr(evaluation, "_sample_model", _mock_sampler(shifted, fresh_labels))
    scores = {
        bins: evaluate((net, schedule, CLASSES, SOURCE), n=50, kid_subsets=3, pmf_bins=bins).overall
        for bins in (256, 32)
    }
    assert scores[256]["model"]["tv"] > 0.9
    assert scores[32]["model"]["tv"] < 0.3 * scores[256]["model"]["tv"]


def test_explicit_reference_and_train(tiny):
    net, schedule = tiny
    ref = generate_sprites(60, seed=7)
    train = generate_sprites(50, seed=8)
    rep = evaluate(
        (net, schedule, CLASSES), n=10, steps=1, reference=ref, train=train, kid_subsets=2
    )
    assert rep.settings["n_train"] == 50 and rep.settings["data_source"] == ""
    # Reference and real are disjoint parts of the given held-out set; the reference takes
    # what the real group leaves, in the model's class proportions (60 // 5 - 2 = 10 each).
    ref_bytes = {im.tobytes() for im in rep.images["reference"]}
    assert not any(im.tobytes() in ref_bytes for im in rep.images["real"])
    assert rep.settings["n_reference"] == 5 * (min(np.bincount(ref[1])) - 2)
    with pytest.raises(DataError, match="need"):
        evaluate((net, schedule, CLASSES), n=100, steps=1, reference=ref, train=train)


def test_errors(tiny):
    net, schedule = tiny
    with pytest.raises(DataError, match="reference"):
        evaluate((net, schedule, CLASSES, "some_file.npz"), n=5, steps=1)
    with pytest.raises(CheckpointError, match="classes"):
        evaluate((net, schedule, ("a", "b", "c", "d", "e"), SOURCE), n=5, steps=1)
    with pytest.raises(ParameterError):
        evaluate((net, schedule, CLASSES, SOURCE), n=0)
    with pytest.raises(ParameterError):
        evaluate((net, schedule, CLASSES, SOURCE), n=5, guidance=-1)
    with pytest.raises(ParameterError):
        evaluate((net, schedule, CLASSES, SOURCE), n=5, sampler="euler")
    with pytest.raises(ParameterError):
        evaluate("not a model tuple".split(), n=5)


# -- CLI --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ckpt(tiny, tmp_path_factory):
    net, schedule = tiny
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    Checkpoint.from_model(
        net, schedule, ema_model=net, class_names=CLASSES, data_source=SOURCE
    ).save(path)
    return path


def test_cli_table_and_json_file(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "report.json"
    status = main(
        [
            "evaluate",
            "--ckpt",
            str(tiny_ckpt),
            "--n",
            "10",
            "--steps",
            "2",
            "--seed",
            "3",
            "--per-class",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert "independent pixels" in captured.out and "class spell" in captured.out
    data = json.loads(out.read_text())
    assert data["settings"]["checkpoint"] == str(tiny_ckpt) and data["settings"]["seed"] == 3
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "--n", "5", "--steps", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["n"] == 5


def test_cli_seeds_report_mean_spread_and_ratio(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "seeds.json"
    argv = ["evaluate", "--ckpt", str(tiny_ckpt), "--n", "10", "--steps", "1", "--seeds", "0,1"]
    assert main([*argv, "--n-reference", "200", "--bootstrap", "0", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mean ± standard deviation over 2 seeds" in text and "real row's mean" in text
    data = json.loads(out.read_text())
    assert data["seeds"] == [0, 1] and set(data["per_seed"]) == {"0", "1"}
    per_seed = [data["per_seed"][s]["overall"]["model"]["tv"] for s in ("0", "1")]
    mean = data["mean"]["model"]
    assert mean["tv"] == pytest.approx(np.mean(per_seed))
    assert mean["tv_sd"] == pytest.approx(np.std(per_seed, ddof=1))
    assert mean["tv_over_real"] == pytest.approx(mean["tv"] / data["mean"]["real"]["tv"])
    assert data["per_seed"]["0"]["settings"]["n_reference"] == 200
    # one seed of the pair equals the single-seed run
    assert (
        main([*argv[:-2], "--seed", "1", "--n-reference", "200", "--bootstrap", "0", "--json"]) == 0
    )
    single = json.loads(capsys.readouterr().out)
    assert single["overall"]["model"]["tv"] == data["per_seed"]["1"]["overall"]["model"]["tv"]


@pytest.mark.parametrize("seeds", ["0,0", "a,b", "-1,2"])
def test_cli_bad_seeds(tiny_ckpt, seeds, capsys):
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), f"--seeds={seeds}"]) == 1
    assert "seeds" in capsys.readouterr().err


def test_cli_bad_inputs_write_nothing(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "r.json"
    base = ["evaluate", "--ckpt", str(tiny_ckpt), "-o", str(out)]
    assert main([*base, "--sampler", "ddpm", "--steps", "5"]) == 1
    assert main([*base, "--steps", "500"]) == 1  # T = 20
    assert main([*base, "--guidance", "-1"]) == 1
    assert main([*base, "--classifier", str(tmp_path / "none.pt"), "--n", "5"]) == 1
    assert main(["evaluate", "--ckpt", str(tiny_ckpt), "-o", str(tiny_ckpt)]) == 1
    assert not out.exists()
    assert capsys.readouterr().err.count("error:") == 5


def test_cli_subprocess_missing_checkpoint(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffprob",
            "evaluate",
            "--ckpt",
            str(tmp_path / "no.pt"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not out.exists()


def test_no_ratio_to_a_real_row_that_is_zero_within_its_spread():
    from diffprob.evaluation.seeds import ratio_to_real
    from diffprob.evaluation.uncertainty import Estimate

    # the shipped pipeline's KID over seeds 0-2: real -0.0004 ± 0.0009 gave a ratio of -278
    assert np.isnan(ratio_to_real(0.1225, Estimate(-0.0004, -0.0013, 0.0005)))
    assert np.isnan(ratio_to_real(0.1225, Estimate(0.0005, -0.0004, 0.0014)))
    assert np.isnan(ratio_to_real(1.0, Estimate(0.0, np.nan, np.nan)))
    assert ratio_to_real(0.524, Estimate(0.036, 0.033, 0.039)) == pytest.approx(0.524 / 0.036)
    assert ratio_to_real(2.0, Estimate(4.0, np.nan, np.nan)) == 0.5  # a single seed: no spread
