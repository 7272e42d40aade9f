"""refnet: Chapter 4 of *Deep Learning from Scratch* in NumPy."""

__version__ = "0.1.0"
