"""Every verb writes all of its outputs or none (issue 16 §5, `cli._common.Outputs`).

A run that fails, early or while writing, exits 1 with one line on stderr and leaves
no output, no temporary file and no folder of its own; files that were there stay
as they were. A run that succeeds leaves its outputs and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import diffprob.evaluation.evaluate as evaluation
import diffprob.plot.animation as animation
import diffprob.plot.statistics as statistics
from diffprob.cli import demo, main
from diffprob.diffusion.checkpoint import Checkpoint
from diffprob.diffusion.models.unet import ContextUnet
from diffprob.diffusion.schedule import NoiseSchedule
from diffprob.errors import ImageWriteError
from diffprob.sprites.classes import CLASSES
from diffprob.sprites.dataset import SpriteData, load_sprite_data
from diffprob.stats.example_image import make_sample_image
from diffprob.stats.io import save_image

KINDS = ["under_a_file", "read_only_folder"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    save_image(folder / "photo.png", make_sample_image(24, 32, seed=1))
    torch.manual_seed(0)
    model = ContextUnet("tiny")
    Checkpoint.from_model(model, NoiseSchedule(20), ema_model=model, class_names=CLASSES).save(
        folder / "tiny.pt"
    )
    return folder


@pytest.fixture(params=KINDS)
def unwritable(request, tmp_path):
    """A factory of output paths that cannot be written, for root too (a file on the way)."""
    if request.param == "under_a_file":
        blocker = tmp_path / "blocker.txt"
        blocker.write_text("a file, not a folder\n")
        yield lambda name: blocker / name
        return
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    yield lambda name: locked / name
    locked.chmod(0o700)


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def assert_refused(status, capsys, folder: Path, before: dict) -> str:
    """Exit 1, one error line on stderr (after any progress), ``folder`` exactly as it was."""
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and [line for line in err if "error" in line] == err[-1:], err
    assert snapshot(folder) == before
    return err[-1]


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name or "write-test" in p.name]


SAMPLE = ["sample", "--n", "2", "--steps", "2", "--seed", "0"]


def _argv(verb, inputs, out, bad):
    photo, ckpt = str(inputs / "photo.png"), str(inputs / "tiny.pt")
    return {
        "noise": ["noise", photo, "-o", str(out / "o.png"), "--plot", str(bad("p.png"))],
        "hist": ["hist", photo, "--csv", str(out / "h.csv"), "--plot", str(bad("p.png"))],
        "joint": ["joint", photo, "--given", "R=100", "--plot", str(bad("j.png"))],
        "sample-gif": [
            *SAMPLE,
            "--ckpt",
            ckpt,
            "-o",
            str(out / "s.png"),
            "--gif",
            str(bad("d.gif")),
        ],
        "sample-npz": [
            *SAMPLE,
            "--ckpt",
            ckpt,
            "-o",
            str(out / "s.png"),
            "--npz",
            str(bad("s.npz")),
        ],
        "data": [
            "data",
            "sprites",
            "-n",
            "5",
            "-o",
            str(out / "d.npz"),
            "--preview",
            str(bad("p.png")),
        ],
        "forward": ["forward", photo, "--t", "5", "-o", str(bad("f.png"))],
        "experts": ["experts", ckpt, ckpt, "-o", str(bad("e.pt"))],
    }[verb]


@pytest.mark.parametrize(
    "verb", ["noise", "hist", "joint", "sample-gif", "sample-npz", "data", "forward", "experts"]
)
def test_an_unwritable_output_writes_nothing(verb, inputs, tmp_path, unwritable, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "o.png").write_bytes(b"there before")  # noise's -o: must survive
    before = snapshot(tmp_path)
    status = main(_argv(verb, inputs, out, unwritable))
    message = assert_refused(status, capsys, tmp_path, before)
    assert "cannot write" in message and ".tmp" not in message


@pytest.mark.parametrize(
    ("verb", "writer"),
    [("noise", (statistics, "save_figure")), ("sample-gif", (animation, "save_denoising_gif"))],
)
def test_a_writer_failing_late_takes_back_the_other_outputs(
    verb, writer, inputs, tmp_path, monkeypatch, capsys
):
    """The second file fails while writing: the first, already written, goes too."""

    def broken(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half")
        raise ImageWriteError(f"cannot write {str(path)!r}: disk full")

    monkeypatch.setattr(*writer, broken)
    new = tmp_path / "new" / "deeper"  # folders the run would have made
    bad = {"noise": new / "p.png", "sample-gif": new / "d.gif"}[verb]
    argv = _argv(verb, inputs, new, lambda name: bad)
    before = snapshot(tmp_path)
    message = assert_refused(main(argv), capsys, tmp_path, before)
    assert str(bad) in message and ".tmp" not in message  # names the output, not its temporary
    assert not (tmp_path / "new").exists()


def test_joint_checks_its_given_companions_first(inputs, tmp_path, capsys):
    (tmp_path / "j_given_R.png").mkdir()
    before = snapshot(tmp_path)
    argv = ["joint", str(inputs / "photo.png"), "--given", "R=100", "--plot"]
    status = main([*argv, str(tmp_path / "j.png")])
    assert "is a directory" in assert_refused(status, capsys, tmp_path, before)


def test_experts_checks_its_inputs_before_making_a_folder(tmp_path, capsys):
    missing = str(tmp_path / "missing.pt")
    before = snapshot(tmp_path)
    status = main(["experts", missing, missing, "-o", str(tmp_path / "new" / "e.pt")])
    assert_refused(status, capsys, tmp_path, before)


def test_evaluate_checks_its_output_before_evaluating(
    inputs, tmp_path, unwritable, monkeypatch, capsys
):
    def never(*args, **kwargs):
        raise AssertionError("evaluated before checking -o")

    monkeypatch.setattr(evaluation, "evaluate", never)
    before = snapshot(tmp_path)
    argv = ["evaluate", "--ckpt", str(inputs / "tiny.pt"), "-o", str(unwritable("r.json"))]
    assert "cannot write" in assert_refused(main(argv), capsys, tmp_path, before)


def test_evaluate_writes_its_report_at_the_end(inputs, tmp_path, monkeypatch, capsys):
    class Report:
        settings: dict = {}
        timings = {"sampling_s": 0.0, "total_s": 0.0}

        def to_dict(self):
            return {"fid": 1.0}

        def table(self, per_class=False):
            return "table"

    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: Report())
    out = tmp_path / "reports" / "r.json"
    assert main(["evaluate", "--ckpt", str(inputs / "tiny.pt"), "-o", str(out)]) == 0
    assert out.read_text().startswith("{") and no_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r.json", "reports"]


# -- data --force: replaced atomically -------------------------------------------------------
@pytest.mark.parametrize("failure", [ImageWriteError, KeyboardInterrupt])
def test_data_force_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch, capsys, failure):
    out = tmp_path / "d.npz"
    assert main(["data", "sprites", "-n", "5", "-o", str(out), "--no-preview"]) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)

    def dies_mid_write(self, path):
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04 the first bytes of a zip")
        raise failure(f"cannot write {str(path)!r}: disk full")

    monkeypatch.setattr(SpriteData, "save", dies_mid_write)
    status = main(["data", "sprites", "-n", "9", "-o", str(out), "--no-preview", "--force"])
    if failure is KeyboardInterrupt:
        assert status == 130 and snapshot(tmp_path) == before
    else:
        assert str(out) in assert_refused(status, capsys, tmp_path, before)
    assert len(load_sprite_data(out)) == 5


def test_data_force_replaces_and_leaves_no_temporaries(tmp_path, capsys):
    out, preview = tmp_path / "d.npz", tmp_path / "d_preview.png"
    argv = ["data", "sprites", "-o", str(out)]
    assert main([*argv, "-n", "5"]) == 0
    old_preview = preview.read_bytes()
    assert main([*argv, "-n", "7"]) == 1  # no --force: refused, nothing touched
    assert main([*argv, "-n", "7", "--force"]) == 0
    assert len(load_sprite_data(out)) == 7 and preview.read_bytes() != old_preview
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "d_preview.png"]


# -- successful runs leave exactly their outputs ---------------------------------------------
def test_successful_runs_leave_no_temporaries(inputs, tmp_path, capsys):
    photo = str(inputs / "photo.png")
    out = tmp_path / "a" / "b"
    assert main(["noise", photo, "-o", str(out / "n.png"), "--plot", str(out / "p.png")]) == 0
    assert main(["hist", photo, "--csv", str(out / "h.csv"), "--plot", str(out / "h.pdf")]) == 0
    npz = out / "s.npz"
    assert (
        main(
            [
                *SAMPLE,
                "--ckpt",
                str(inputs / "tiny.pt"),
                "-o",
                str(out / "s.png"),
                "--npz",
                str(npz),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "h.csv", "h.pdf", "n.png", "p.png", "s.npz", "s.png",
    ]  # fmt: skip
    assert (out / "h.pdf").read_bytes().startswith(b"%PDF")  # the final name's format
    assert np.load(npz)["images"].shape == (2, 16, 16, 3)


# -- demo: its folder ------------------------------------------------------------------------
def _one_file(ctx):
    path = ctx.out / "first.txt"
    path.write_text("written\n")
    return [path]


def _fails(ctx):
    raise ImageWriteError("step failed")


def test_demo_failing_removes_what_it_made(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "STEPS", [_one_file, _fails])
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "first.txt").write_text("there before\n")
    before = snapshot(tmp_path)
    assert_refused(
        main(["demo", "--out", str(tmp_path / "new" / "demo")]), capsys, tmp_path, before
    )
    assert_refused(main(["demo", "--out", str(existing)]), capsys, tmp_path, before)


def test_demo_moves_its_files_in_when_every_step_succeeded(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "STEPS", [_one_file])
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "first.txt")]
    assert [p.name for p in out.iterdir()] == ["first.txt"]
