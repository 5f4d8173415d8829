"""The diffusion model: the second half of diffprob (PyTorch).

* :mod:`~diffprob.diffusion.schedule` -- the noise schedule and the forward-process maths;
* :mod:`~diffprob.diffusion.models` -- the context U-Nets and the low-noise experts;
* :mod:`~diffprob.diffusion.sampling` -- the reverse process: samplers, guidance, inpainting;
* :mod:`~diffprob.diffusion.forward_process` -- what noising does to a pixel's distribution;
* :mod:`~diffprob.diffusion.checkpoint` -- saving and loading a trained model;
* :mod:`~diffprob.diffusion.training` -- the training loop and what it needs.

The public names are also importable from :mod:`diffprob` itself.
"""
