"""Training a diffusion model: settings, the loop, and what the loop needs.

* :mod:`~diffprob.diffusion.training.train` -- :func:`train` and its loop, step by step;
* :mod:`~diffprob.diffusion.training.config` -- :class:`TrainConfig` and the learning-rate
  schedule;
* :mod:`~diffprob.diffusion.training.data` -- the data as tensors, the seeded data order
  and per-step random draws that make resuming exact;
* :mod:`~diffprob.diffusion.training.state` -- what a run is given, what its steps change,
  and the checkpoint that saves both;
* :mod:`~diffprob.diffusion.training.report` -- what the loop reports and writes as it goes:
  progress bar, log rows, checkpoints, previews;
* :mod:`~diffprob.diffusion.training.divergence` -- stopping a run whose loss or weights
  stop being finite, keeping its last finite checkpoint;
* :mod:`~diffprob.diffusion.training.budget` -- a wall-clock budget: the throughput probe
  and the plan of steps that fits it;
* :mod:`~diffprob.diffusion.training.budget_loop` -- the budget in the loop: the probe, the
  plan on every process, the hard stop;
* :mod:`~diffprob.diffusion.training.resume` -- resuming a run (checked, then restored), or
  fine-tuning from weights;
* :mod:`~diffprob.diffusion.training.run_folder` -- the run's files: checkpoints, loss log
  and plot, previews;
* :mod:`~diffprob.diffusion.training.run_args` -- the options a run is started with
  (``train_args.json``), read back and checked by ``--resume``;
* :mod:`~diffprob.diffusion.training.summary` -- the data and length a run prints before
  it starts;
* :mod:`~diffprob.diffusion.training.ema` -- the exponential moving average of the weights;
* :mod:`~diffprob.diffusion.training.precision` -- autocast, gradient scaling and TF32;
* :mod:`~diffprob.diffusion.training.stop` -- stopping cleanly on Ctrl-C or SIGTERM;
* :mod:`~diffprob.diffusion.training.lock` -- one run at a time in a run folder;
* :mod:`~diffprob.diffusion.training.distributed` -- several processes under torchrun (DDP).
"""
