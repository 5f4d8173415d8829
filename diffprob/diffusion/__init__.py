"""The diffusion model: the second half of diffprob (PyTorch).

* :mod:`~diffprob.diffusion.schedule` -- the noise schedule and the forward-process maths;
* :mod:`~diffprob.diffusion.models` -- the context U-Nets and the low-noise experts;
* :mod:`~diffprob.diffusion.samplers` -- the reverse steps (DDPM, DDIM, DPM-Solver++(2M)),
  one per module, and :class:`~diffprob.diffusion.samplers.config.SamplerConfig`, their settings;
* :mod:`~diffprob.diffusion.sampling` -- the sampling loop, x_T ~ N(0, I) down to x_0;
* :mod:`~diffprob.diffusion.guidance` -- context vectors and classifier-free guidance;
* :mod:`~diffprob.diffusion.inpainting` -- regenerating masked pixels (RePaint);
* :mod:`~diffprob.diffusion.rng` -- the seeded random draws, the same on every device;
* :mod:`~diffprob.diffusion.forward_process` -- what noising does to a pixel's distribution;
* :mod:`~diffprob.diffusion.checkpoint` -- saving and loading a trained model;
* :mod:`~diffprob.diffusion.device` -- choosing the device (CUDA, Apple MPS or the CPU);
* :mod:`~diffprob.diffusion.training` -- the training loop and what it needs.

The public names are also importable from :mod:`diffprob` itself.
"""
