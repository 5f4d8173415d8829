"""The model measured with the statistics half.

* :mod:`~diffprob.evaluation.divergences` -- distances between PMFs and between
  feature clouds (TV, JS, W1, FD, KID, nearest neighbours);
* :mod:`~diffprob.evaluation.baselines` -- the models a diffusion model must beat;
* :mod:`~diffprob.evaluation.classifier` -- the sprite classifier behind accuracy and FD;
* :mod:`~diffprob.evaluation.denoising_error` -- the network's x0 error per timestep;
* :mod:`~diffprob.evaluation.diffusion_map` -- a diffusion-map embedding of samples;
* :mod:`~diffprob.evaluation.evaluate` -- the evaluation report of a model.

The public names are also importable from :mod:`diffprob` itself.
"""
