"""Datasets: the embedded procedural images (the offline default).

``shapes(n, size=16, classes=10, rng=...)`` builds the default dataset in NumPy from a seed.
"""

from .procedural import CHANNEL_GAIN, CHANNEL_OFFSET, CLASS_NAMES, shapes

__all__ = ["CHANNEL_GAIN", "CHANNEL_OFFSET", "CLASS_NAMES", "shapes"]
