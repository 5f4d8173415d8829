"""Training a diffusion model: configuration, the loop, EMA weights, several processes."""
