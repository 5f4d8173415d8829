"""Image statistics: the first half of diffprob, plain numpy/scipy/OpenCV (no torch).

* :mod:`~diffprob.stats.io` -- reading and writing images as RGB uint8;
* :mod:`~diffprob.stats.colorspaces` -- RGB, HSV, Lab, YCrCb and grey as channel codes;
* :mod:`~diffprob.stats.noise` -- additive Gaussian noise, clipped and quantised;
* :mod:`~diffprob.stats.distributions` -- its PDF/CDF and the exact 8-bit PMF;
* :mod:`~diffprob.stats.histograms` -- per-channel PMFs/CDFs and entropy;
* :mod:`~diffprob.stats.joint` -- joint histograms, conditionals, correlation,
  mutual information and the chi-squared test of independence;
* :mod:`~diffprob.stats.example_image` -- a synthetic test photograph (no download).

The public functions are also importable from :mod:`diffprob` itself.
"""
