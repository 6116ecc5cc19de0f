"""Re-implementations of the ICML 2021 "Deep Learning Optimization" session as one pipeline."""

__version__ = "0.1.0"
