"""ablate: ablation studies of JEDI, the latent end-to-end diffusion world model, on Atari100k."""

__version__ = "0.1.0"
