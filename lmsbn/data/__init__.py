"""Datasets: the embedded procedural images (the offline default) and real-data loaders.

``shapes(n, size=16, classes=10, rng=...)`` builds the default dataset in NumPy from a seed.

Real data (:mod:`lmsbn.data.files`, :mod:`lmsbn.data.download`): ``load_mnist``,
``load_fashion_mnist`` and ``load_cifar10`` read the official files from a folder or from the
cache (:func:`cache_dir`), downloading them with SHA-256 checks when asked (``download=True`` or
:func:`download`); ``load_npz`` reads an ``images``/``labels`` archive such as the MNIST sample
``shared/data/mnist5k.npz``; ``load_digits`` wraps scikit-learn's 8x8 digits (optional extra).
All return ``X`` float64 (n, C, H, W) scaled to [0, 1] (or standardised per channel with
``normalize=True``) and ``y`` int64 (n,).

Note that ``lmsbn.data.download`` is the function; the module of the same name is reachable as
``importlib.import_module("lmsbn.data.download")``.
"""

from lmsbn.data.download import cache_dir, download
from lmsbn.data.files import load_cifar10, load_digits, load_fashion_mnist, load_mnist, load_npz
from lmsbn.data.procedural import CHANNEL_GAIN, CHANNEL_OFFSET, CLASS_NAMES, shapes

__all__ = ["CHANNEL_GAIN", "CHANNEL_OFFSET", "CLASS_NAMES", "cache_dir", "download",
           "load_cifar10", "load_digits", "load_fashion_mnist", "load_mnist", "load_npz",
           "shapes"]
