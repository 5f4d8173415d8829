import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

# The models in tests are tiny: one thread avoids oversubscribing a small (2-core) CI
# machine, where extra threads made tiny forward passes tens of times slower.
torch.set_num_threads(1)
