"""Every verb's --seed: checked once (one line, exit 1, nothing written), drawn and reported
when a verb draws one."""

import numpy as np
import pytest

from diffprob.cli import main
from diffprob.stats.io import save_image
from diffprob.util.seeds import MAX_SEED

BAD_SEEDS = ["-1", str(MAX_SEED + 1), "1180591620717411303424"]


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "in.png"
    save_image(path, np.full((8, 8, 3), 100, np.uint8))
    return path


@pytest.mark.parametrize("seed", BAD_SEEDS)
@pytest.mark.parametrize(
    "verb",
    [
        ["noise", "PHOTO"],
        ["forward", "PHOTO"],
        ["data", "sprites", "-n", "5"],
        ["classifier", "train", "--steps", "1"],
        ["evaluate", "--n", "5"],
        ["sample", "--n", "1"],
        ["train", "--steps", "1"],
    ],
)
def test_out_of_range_seed_is_one_line_and_writes_nothing(verb, seed, photo, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(photo) if a == "PHOTO" else a for a in verb]
    flag = "--out" if verb[0] == "train" else "-o"
    status = main([*argv, f"--seed={seed}", flag, str(out / "x.png")])
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seed must be in [0," in err
    assert not out.exists()


def test_forward_draws_and_reports_a_seed(photo, tmp_path, capsys):
    out = tmp_path / "f.png"
    assert main(["forward", str(photo), "-o", str(out), "--t", "10"]) == 0
    text = capsys.readouterr().out
    assert "seed None" not in text and "seed " in text
