"""Weight initialisation.

He (Kaiming-normal, fan-in) initialisation keeps the variance of ReLU activations roughly
constant from layer to layer, so the no-BatchNorm baseline starts from a fair place.

References
----------
He, Zhang, Ren, Sun (2015), "Delving Deep into Rectifiers", ICCV.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_generator, check_int

__all__ = ["kaiming_normal"]


def kaiming_normal(shape: tuple[int, ...], *, fan_in: int | None = None, rng=None,
                   dtype=np.float64) -> np.ndarray:
    r"""Draw weights from :math:`\mathcal N(0, 2 / \text{fan\_in})`.

    Parameters
    ----------
    shape : tuple of int
        Weight shape, output dimension first: (F, C, kh, kw), (F, C, k) or (F, D).
    fan_in : int, optional
        Inputs per output unit; default ``prod(shape[1:])`` (C kh kw for a conv, D for a linear
        layer), which is also K, the length of the layer's regressor vector.
    rng : None, int or numpy.random.Generator
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray of shape ``shape``
    """
    shape = tuple(check_int(s, "shape entry", min_value=1) for s in shape)
    if fan_in is None:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    fan_in = check_int(fan_in, "fan_in", min_value=1)
    rng = as_generator(rng)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype, copy=False)
