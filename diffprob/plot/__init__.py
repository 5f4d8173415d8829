"""Figures for both halves, as matplotlib Figures (never pyplot state).

* :mod:`~diffprob.plot.statistics` -- noise distributions, channel PMFs, joint
  histograms and conditionals;
* :mod:`~diffprob.plot.diffusion` -- the forward process, SNR curves, sample grids,
  denoising trajectories;
* :mod:`~diffprob.plot.evaluation` -- evaluation metrics and diffusion-map embeddings;
* :mod:`~diffprob.plot.animation` -- the denoising GIF.

Every function is importable from here (``diffprob.plot.plot_joint_histogram``);
the list is ``__init__.pyi``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
