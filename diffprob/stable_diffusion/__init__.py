"""What Stable Diffusion adds to a DDPM, at sprite scale: three parts, each trainable on a CPU.

1. **An autoencoder** (:mod:`~diffprob.stable_diffusion.autoencoder`): a small KL-regularised
   VAE maps a 16x16x3 sprite to an 8x8x4 latent and back. Diffusion then runs on the
   latents standardised per channel (:mod:`~diffprob.stable_diffusion.latent_scaling`;
   Stable Diffusion's one global factor, its 0.18215, is measured beside it). :mod:`~diffprob.stable_diffusion.latent_statistics`
   measures the latents against N(0, 1) with the statistics half.
2. **A text encoder trained CLIP-style** (:mod:`~diffprob.stable_diffusion.tokenizer`,
   :mod:`~diffprob.stable_diffusion.text_encoder`, :mod:`~diffprob.stable_diffusion.image_encoder`,
   :mod:`~diffprob.stable_diffusion.contrastive`): captions with known truth
   (:mod:`diffprob.sprites.captions`) and sprites meet in one embedding space through the
   symmetric InfoNCE loss; its similarity softmax is a conditional distribution
   P(caption | image).
3. **Latent diffusion with cross-attention** (:mod:`~diffprob.stable_diffusion.cross_attention`,
   :mod:`~diffprob.stable_diffusion.text_unet`): a U-Net on latents that reads the text
   tokens through cross-attention, trained with caption dropout for classifier-free
   guidance and sampled by the same schedules and samplers as the pixel model
   (:mod:`diffprob.diffusion`); :mod:`~diffprob.stable_diffusion.pipeline` is the loop
   from a prompt to sprites (``diffprob txt2img "a red potion"``).

The three are trained by one loop (:mod:`~diffprob.stable_diffusion.fit`) and stored as
part files (:mod:`~diffprob.stable_diffusion.parts`).
"""
