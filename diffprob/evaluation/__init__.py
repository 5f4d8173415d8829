"""The model measured with the statistics half.

* :mod:`~diffprob.evaluation.divergences` -- distances between PMFs on a common grid:
  total variation, Jensen--Shannon (bits), Wasserstein-1, joint-histogram TV;
* :mod:`~diffprob.evaluation.kernel_mmd` -- KID, the kernel distance between feature clouds;
* :mod:`~diffprob.evaluation.sample_distances` -- distances between sets of samples:
  Fréchet distance (FD) and nearest-neighbour distances;
* :mod:`~diffprob.evaluation.baselines` -- the models a diffusion model must beat;
* :mod:`~diffprob.evaluation.classifier` -- the sprite classifier behind accuracy and FD,
  and :mod:`~diffprob.evaluation.classifier_training`, how it is trained;
* :mod:`~diffprob.evaluation.denoising_error` -- the network's x0 error per timestep;
* :mod:`~diffprob.evaluation.diffusion_map` -- a diffusion-map embedding of samples;
* :mod:`~diffprob.evaluation.evaluate` -- :func:`evaluate`, a model scored against
  held-out sprites and baselines (its steps in the private ``_real_data`` and
  ``_scoring``);
* :mod:`~diffprob.evaluation.faithfulness` -- prompt faithfulness of a text-to-sprite
  model: class, colour and variant accuracy on "a <colour> <noun>" prompts;
* :mod:`~diffprob.evaluation.compare` -- several models' quality and sampling time in one
  table;
* :mod:`~diffprob.evaluation.report` -- :class:`EvaluationReport`, its result and table;
* :mod:`~diffprob.evaluation.uncertainty` -- bootstrap intervals and spreads over seeds;
* :mod:`~diffprob.evaluation.seeds` -- one evaluation at several seeds, summarised.

The public names are also importable from :mod:`diffprob` itself.
"""
