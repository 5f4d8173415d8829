"""diffprob: measure the probability behind diffusion models.

Two halves that explain each other, one subpackage each, and what joins them:

* :mod:`diffprob.stats` -- image statistics: Gaussian noise and its distribution,
  per-channel colour PMFs/CDFs, joint and conditional histograms, entropy and
  mutual information. Plain numpy/scipy/OpenCV; never imports torch.
* :mod:`diffprob.diffusion` -- a sprite-scale DDPM: noise schedule, context U-Net,
  samplers (DDPM, DDIM, DPM-Solver++) with classifier-free guidance, inpainting,
  the forward process, checkpoints and training.
* :mod:`diffprob.sprites` -- the procedural sprite set with known ground truth
  that the model learns, and the loaders for other data.
* :mod:`diffprob.evaluation` -- the model measured with the statistics half:
  divergences, sample distances, baselines, a classifier, the evaluation report.
* :mod:`diffprob.plot` -- figures for all of the above; :mod:`diffprob.cli` -- the
  ``diffprob`` command.

The public names below are listed once, in ``__init__.pyi``, and imported lazily
(``lazy_loader``), so ``import diffprob`` and the statistics functions never pay
for importing torch.
"""

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
