"""GAN zoo: classic GAN papers on PyTorch Lightning, with one evaluation harness."""

__version__ = "0.1.0"
