"""Hypothesis strategies shared by the tests (one place, minitorch style)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st


class Conv2dConfig(NamedTuple):
    N: int
    C: int
    H: int
    W: int
    F: int
    kh: int
    kw: int
    stride: tuple[int, int]
    pad: tuple[int, int]


class Conv1dConfig(NamedTuple):
    N: int
    C: int
    L: int
    F: int
    k: int
    stride: int
    pad: int


@st.composite
def conv2d_configs(draw, max_batch=3, max_channels=4, max_kernel=5, max_stride=3, max_pad=2):
    """Small 2-D convolution configurations that always give at least one output pixel.

    Kernels are rectangular, strides and paddings differ per axis, and the input size is drawn
    from "kernel just fits the padded input" up to a few pixels more, so the edge cases (a single
    output row, taps that only ever see padding) come up often.
    """
    kh = draw(st.integers(1, max_kernel))
    kw = draw(st.integers(1, max_kernel))
    ph, pw = draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    H = draw(st.integers(max(1, kh - 2 * ph), max(1, kh - 2 * ph) + 5))
    W = draw(st.integers(max(1, kw - 2 * pw), max(1, kw - 2 * pw) + 5))
    return Conv2dConfig(N=draw(st.integers(1, max_batch)), C=draw(st.integers(1, max_channels)),
                        H=H, W=W, F=draw(st.integers(1, max_channels)), kh=kh, kw=kw,
                        stride=(sh, sw), pad=(ph, pw))


@st.composite
def conv1d_configs(draw, max_batch=3, max_channels=4, max_kernel=5, max_stride=3, max_pad=2):
    """Small 1-D convolution configurations that always give at least one output sample."""
    k = draw(st.integers(1, max_kernel))
    pad = draw(st.integers(0, max_pad))
    L = draw(st.integers(max(1, k - 2 * pad), max(1, k - 2 * pad) + 8))
    return Conv1dConfig(N=draw(st.integers(1, max_batch)), C=draw(st.integers(1, max_channels)),
                        L=L, F=draw(st.integers(1, max_channels)), k=k,
                        stride=draw(st.integers(1, max_stride)), pad=pad)


def seeds():
    """Seeds for ``numpy.random.default_rng`` (data are drawn from the seed, not by hypothesis,
    so that shrinking acts on the configuration and the arrays stay well scaled)."""
    return st.integers(0, 2**32 - 1)


def random_conv2d(cfg: Conv2dConfig, seed: int, dtype=np.float64):
    """Random ``x, w, b`` for a configuration."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg.N, cfg.C, cfg.H, cfg.W)).astype(dtype)
    w = rng.standard_normal((cfg.F, cfg.C, cfg.kh, cfg.kw)).astype(dtype)
    b = rng.standard_normal(cfg.F).astype(dtype)
    return x, w, b


def random_conv1d(cfg: Conv1dConfig, seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg.N, cfg.C, cfg.L)).astype(dtype)
    w = rng.standard_normal((cfg.F, cfg.C, cfg.k)).astype(dtype)
    b = rng.standard_normal(cfg.F).astype(dtype)
    return x, w, b


#: Per-channel standard deviations for BatchNorm tests: neighbours are >= 1.6x apart, so no
#: finite-difference step can move a channel across the reference (the median over channels) of
#: ``amplify``/``suppress``, nor reorder two channels (which would move the median's derivative).
BN_SIGMA_LADDER = (0.25, 0.4, 0.7, 1.2, 2.0, 3.3, 5.5)


@st.composite
def bn_channel_sigmas(draw, min_channels=1, max_channels=5):
    """Distinct per-channel spreads from :data:`BN_SIGMA_LADDER`, in a random channel order.

    Odd and even channel counts both come up: the median is one channel's sigma for an odd
    count and the mean of the two middle ones for an even count (two gradient paths).
    """
    c = draw(st.integers(min_channels, max_channels))
    return np.array(draw(st.lists(st.sampled_from(BN_SIGMA_LADDER), min_size=c, max_size=c,
                                  unique=True)))
