import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

# The models in tests are tiny: one thread avoids oversubscribing a small (2-core) CI
# machine, where extra threads made tiny forward passes tens of times slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Start every test on one thread, whatever an earlier test (a CLI --threads) set."""
    torch.set_num_threads(1)
