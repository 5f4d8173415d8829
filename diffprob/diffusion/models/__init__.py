"""Networks that predict the noise: the course's context U-Net, a DDPM-style U-Net with
attention, and the low-noise experts that share a sampler's work by timestep."""
