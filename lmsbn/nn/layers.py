"""Thin layer classes: they hold parameters, gradients and state, and nothing else.

All arithmetic lives in the pure function pairs of :mod:`lmsbn.nn.functional`; a layer calls
them *through that module* (``F.conv2d_forward``), so a function swapped into ``functional``
(``lmsbn.use``) is the one every model uses. A layer keeps the cache of its last forward pass in
``self.cache`` so a student can inspect it in a debugger.

Conventions
-----------
* ``forward(x, train=True) -> out`` and ``backward(dout) -> dx``.
* ``params`` and ``grads`` are dicts with the same keys. Gradients are written *in place* into
  arrays allocated once, so an optimiser may hold references to them.
* Parameters are float64 unless ``dtype=np.float32`` is asked for; every constructor that draws
  random numbers takes ``rng``.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import check_choice, check_int, check_positive
from lmsbn.nn import functional as F
from lmsbn.nn.im2col import _pair
from lmsbn.nn.init import kaiming_normal

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "Flatten",
    "GlobalAvgPool2d", "Layer", "Linear", "MaxPool2d", "ReLU",
]


class Layer:
    """Base class: a parameter holder around one forward/backward function pair.

    Subclasses set ``params`` in ``__init__`` and implement ``_forward`` and ``_backward``
    (the conv layers override ``forward`` itself, one frame less between a debugger and
    im2col). ``prefix`` is the short name :class:`~lmsbn.nn.Sequential` uses to name layers
    (``conv1``, ``bn1``, ...).
    """

    prefix = "layer"

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache = None

    def _init_grads(self):
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, train: bool = True):
        """Compute the layer's output; keep the cache for :meth:`backward`."""
        return self._forward(x, _check_train(train))

    def backward(self, dout):
        """Back-propagate ``dout``; store parameter gradients in ``grads``; return dx."""
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._backward(dout)

    def _store_grads(self, **grads):
        for name, g in grads.items():
            if g is not None:
                self.grads[name][...] = g

    def zero_grad(self):
        """Set every gradient to zero, in place."""
        for g in self.grads.values():
            g.fill(0.0)

    def extra_repr(self) -> str:
        """The hyperparameters shown in ``repr(layer)``."""
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    # Layers without parameters or cache only need these two.
    def _forward(self, x, train):
        raise NotImplementedError

    def _backward(self, dout):
        raise NotImplementedError


def _check_train(train) -> bool:
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train must be a bool, got {train!r}")
    return bool(train)


class _ConvNd(Layer):
    """Shared constructor of :class:`Conv1d` and :class:`Conv2d` (they differ only in rank)."""

    prefix = "conv"

    def __init__(self, in_channels, out_channels, kernel_shape, stride, padding, bias, rng, dtype):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", min_value=1)
        self.out_channels = check_int(out_channels, "out_channels", min_value=1)
        self.kernel_shape = kernel_shape
        self.stride, self.padding = stride, padding
        w = kaiming_normal((self.out_channels, self.in_channels, *kernel_shape), rng=rng,
                           dtype=dtype)
        self.params["weight"] = w
        if bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=w.dtype)
        self._init_grads()

    def extra_repr(self):
        k = self.kernel_shape if len(self.kernel_shape) > 1 else self.kernel_shape[0]
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={k}, stride={self.stride}, "
                f"padding={self.padding}, bias={'bias' in self.params}")


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation, PyTorch semantics), He-initialised.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (kh, kw)
    stride : int or (sh, sw), default 1
    padding : int or (ph, pw), default 0
    bias : bool, default True
    rng : None, int or numpy.random.Generator
    dtype : numpy dtype, default float64

    Notes
    -----
    ``params["weight"]`` has shape (F, C, kh, kw); its rows, flattened, are the F adaptive
    filters whose regressors are the im2col patches of the input (see
    :func:`lmsbn.bridge.regressors` and tutorial 03).
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, bias=True,
                 rng=None, dtype=np.float64):
        kh, kw = _pair(kernel_size, "kernel_size", min_value=1)
        super().__init__(in_channels, out_channels, (kh, kw), stride, padding, bias, rng, dtype)

    def forward(self, x, train: bool = True):
        """Convolve ``x`` (N, C, H, W); keep the cache (``cache.cols`` = U) for backward.

        Calls :func:`~lmsbn.nn.conv.conv2d_forward` directly, so a debugger steps from here
        into it and then into ``im2col2d`` and the matrix product. ``train`` is accepted for the
        common layer interface; a convolution computes the same in both modes.
        """
        _check_train(train)
        out, self.cache = F.conv2d_forward(x, self.params["weight"], self.params.get("bias"),
                                           stride=self.stride, pad=self.padding)
        return out

    def _backward(self, dout):
        dx, dw, db = F.conv2d_backward(dout, self.cache)
        self._store_grads(weight=dw, bias=db)
        return dx


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) inputs; with one channel its im2col is a tapped delay line.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride : int, default 1
    padding : int, default 0
    bias : bool, default True
    rng : None, int or numpy.random.Generator
    dtype : numpy dtype, default float64
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, bias=True,
                 rng=None, dtype=np.float64):
        k = check_int(kernel_size, "kernel_size", min_value=1)
        super().__init__(in_channels, out_channels, (k,), stride, padding, bias, rng, dtype)

    def forward(self, x, train: bool = True):
        """Convolve ``x`` (N, C, L) with :func:`~lmsbn.nn.conv.conv1d_forward`, as in
        :meth:`Conv2d.forward`."""
        _check_train(train)
        out, self.cache = F.conv1d_forward(x, self.params["weight"], self.params.get("bias"),
                                           stride=self.stride, pad=self.padding)
        return out

    def _backward(self, dout):
        dx, dw, db = F.conv1d_backward(dout, self.cache)
        self._store_grads(weight=dw, bias=db)
        return dx


class Linear(Layer):
    """Fully connected layer, ``out = x W^T + b`` with W of shape (out_features, in_features)."""

    prefix = "fc"

    def __init__(self, in_features, out_features, *, bias=True, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", min_value=1)
        self.out_features = check_int(out_features, "out_features", min_value=1)
        self.params["weight"] = kaiming_normal((self.out_features, self.in_features), rng=rng,
                                               dtype=dtype)
        if bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=self.params["weight"].dtype)
        self._init_grads()

    def _forward(self, x, train):
        out, self.cache = F.linear_forward(x, self.params["weight"], self.params.get("bias"))
        return out

    def _backward(self, dout):
        dx, dw, db = F.linear_backward(dout, self.cache)
        self._store_grads(weight=dw, bias=db)
        return dx

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={'bias' in self.params}"


class ReLU(Layer):
    """Rectified linear unit."""

    prefix = "relu"

    def _forward(self, x, train):
        out, self.cache = F.relu_forward(x)
        return out

    def _backward(self, dout):
        return F.relu_backward(dout, self.cache)


class _Pool2d(Layer):
    prefix = "pool"

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = check_int(kernel_size, "kernel_size", min_value=1)
        self.stride = None if stride is None else check_int(stride, "stride", min_value=1)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class MaxPool2d(_Pool2d):
    """Max pooling over k x k windows (stride defaults to k, as in PyTorch)."""

    def _forward(self, x, train):
        out, self.cache = F.maxpool2d_forward(x, self.kernel_size, stride=self.stride)
        return out

    def _backward(self, dout):
        return F.maxpool2d_backward(dout, self.cache)


class AvgPool2d(_Pool2d):
    """Average pooling over k x k windows (stride defaults to k, as in PyTorch)."""

    def _forward(self, x, train):
        out, self.cache = F.avgpool2d_forward(x, self.kernel_size, stride=self.stride)
        return out

    def _backward(self, dout):
        return F.avgpool2d_backward(dout, self.cache)


class GlobalAvgPool2d(Layer):
    """Average over all pixels: (N, C, H, W) -> (N, C)."""

    prefix = "gap"

    def _forward(self, x, train):
        out, self.cache = F.global_avgpool_forward(x)
        return out

    def _backward(self, dout):
        return F.global_avgpool_backward(dout, self.cache)


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)); the backward pass restores the shape."""

    prefix = "flatten"

    def _forward(self, x, train):
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError("Flatten expects an input with a batch axis (ndim >= 2), "
                             f"got shape {x.shape}")
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def _backward(self, dout):
        return np.asarray(dout).reshape(self.cache)


class _BatchNorm(Layer):
    """Shared code of :class:`BatchNorm1d` and :class:`BatchNorm2d`."""

    prefix = "bn"
    _ranks: tuple[int, ...] = ()

    def __init__(self, num_features, *, mode="full", momentum=0.1, eps=1e-5, gamma=1.0,
                 dtype=np.float64):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", min_value=1)
        self.mode = check_choice(mode, "mode", F.BN_MODES)
        self.momentum = check_positive(momentum, "momentum", allow_zero=True)
        if self.momentum > 1:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.eps = check_positive(eps, "eps", allow_zero=True)
        gamma = check_positive(gamma, "gamma", allow_zero=True)
        self.params["weight"] = np.full(self.num_features, gamma, dtype=dtype)   # gamma
        self.params["bias"] = np.zeros(self.num_features, dtype=dtype)           # beta
        self.state = F.BatchNormState.create(self.num_features, dtype=dtype)
        self._init_grads()

    def _forward(self, x, train):
        x_nd = np.ndim(x)
        if x_nd not in self._ranks:
            raise ValueError(f"{type(self).__name__} expects an input with "
                             f"{' or '.join(map(str, self._ranks))} dimensions, "
                             f"got shape {np.shape(x)}")
        out, self.cache = F.batchnorm_forward(
            x, self.params["weight"], self.params["bias"], self.state, train=train,
            momentum=self.momentum, eps=self.eps, mode=self.mode)
        return out

    def _backward(self, dout):
        dx, dgamma, dbeta = F.batchnorm_backward(dout, self.cache)
        self._store_grads(weight=dgamma, bias=dbeta)
        return dx

    def extra_repr(self):
        return (f"{self.num_features}, mode={self.mode!r}, momentum={self.momentum}, "
                f"eps={self.eps}")


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs; ``mode`` picks the variant.

    The variants are tabulated in :mod:`lmsbn.nn.batchnorm`.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    mode : {"full", "center", "scale", "amplify", "suppress", "frozen"}, default "full"
        ``amplify``/``suppress`` rescale only the channels weaker/stronger than the layer's
        reference scale (the median over channels of the batch sigma; ``state.running_ref`` in
        evaluation), lmsbn's own design.
    momentum : float in [0, 1], default 0.1
        PyTorch convention: running = (1 - momentum) running + momentum batch_stat.
    eps : float, default 1e-5
        Added to the variance inside the square root.
    gamma : float, default 1.0
        Initial value of the scale parameter (Wei et al. 2019 sweep it).
    dtype : numpy dtype, default float64
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs; same parameters as :class:`BatchNorm1d`."""

    _ranks = (4,)
