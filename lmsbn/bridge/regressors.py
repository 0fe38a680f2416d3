r"""A conv layer seen as an adaptive filter: its regressors, weights and spectra.

A conv (or linear) layer is an adaptive linear combiner (as in :mod:`lmsbn.filters`): its
regressors are the im2col patches of its input, its weights are the rows of
``W = w.reshape(F, K)``, and SGD on it is block LMS with error :math:`-\partial L / \partial Y`.
This module hands those regressors and weights to the analysis core (:mod:`lmsbn.spectral`)
*unchanged* -- the core never learns that they came from a network. The regressors are read from
the layer's forward cache (``cache.cols``) when one is there, so nothing is computed twice.

Which case you are in
---------------------
The LMS picture is *exact* for a layer whose output feeds an MSE loss directly (or one layer
trained while the others are frozen): its error does not depend on its own weights through other
layers. For a deeper layer the back-propagated error depends on the downstream weights, which
move too, so the mode analysis is an *approximation* there. :func:`layer_case` says which.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_int, describe
from lmsbn.nn import BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Linear, Sequential
from lmsbn.nn import functional as F
from lmsbn.nn.conv import ConvCache
from lmsbn.nn.linear import LinearCache
from lmsbn.spectral import Spectrum

__all__ = ["COMBINERS", "bn_followers", "capture_regressors", "layer_case", "layer_spectra",
           "layer_weights", "regressors", "rows_last"]


#: Layers that are adaptive linear combiners.
COMBINERS = (Conv1d, Conv2d, Linear)


# ------------------------------------------------------------------------------------ regressors
def regressors(layer, x=None) -> np.ndarray:
    """The regressor matrix U (M, K) a combiner layer sees.

    Parameters
    ----------
    layer : Conv1d, Conv2d or Linear
    x : ndarray, optional
        An input batch: U is computed for it. Conv2d: ``im2col2d`` of x with the layer's
        kernel, stride and padding (M = N Ho Wo, K = C kh kw); Conv1d: ``im2col1d``; Linear: x
        itself (M = N, K = D). Without ``x``: the U of the layer's last forward pass, read from
        its cache (``cache.cols``) -- no im2col is computed again.

    Returns
    -------
    U : ndarray, shape (M, K)
        Row ``m`` times the flattened filter ``W[f]`` is the layer's output ``f`` at position
        ``m`` (bias aside). Read from the cache, it is the cache's own array (no copy).
    """
    if not isinstance(layer, COMBINERS):
        raise TypeError(f"layer must be a Conv1d, Conv2d or Linear, got {type(layer).__name__}")
    if x is None:
        cache = layer.cache
        if isinstance(cache, ConvCache):
            return cache.cols
        if isinstance(cache, LinearCache):
            return cache.x
        raise ValueError(f"regressors({type(layer).__name__}) without x reads the layer's last "
                         f"forward cache, but it holds {describe(cache)}: run a forward pass "
                         "with the library's forward function first, or pass x")
    if isinstance(layer, Conv2d):
        kh, kw = layer.kernel_shape
        return F.im2col2d(x, kh, kw, stride=layer.stride, pad=layer.padding)
    if isinstance(layer, Conv1d):
        return F.im2col1d(x, layer.kernel_shape[0], stride=layer.stride, pad=layer.padding)
    return as_float_array(x, "x", ndim=2)


def _regressors_of(layer, inp, cache):
    """The U of a forward pass of ``layer`` on ``inp`` that left ``cache`` (from a forward hook).

    A conv layer's ConvCache holds U already (``cols``); only a cache without it (a student's
    forward swapped in with its own cache) makes this compute im2col of ``inp`` again.
    """
    return cache.cols if isinstance(cache, ConvCache) else regressors(layer, inp)


def layer_weights(layer) -> np.ndarray:
    """The layer's filters as rows, ``W`` of shape (F, K): a view of the weight array."""
    w = layer.params["weight"]
    return w.reshape(w.shape[0], -1)


def rows_last(a: np.ndarray) -> np.ndarray:
    """(N, F, ...) layer outputs -> (M, F), rows in the im2col order (n slowest, then pixels)."""
    a = np.asarray(a)
    if a.ndim == 2:
        return a
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _subsample(U, max_rows, rng):
    if U.shape[0] <= max_rows:
        return U
    # Sorted so the kept rows stay in im2col order; seeded so a spectrum is reproducible.
    return U[np.sort(rng.choice(U.shape[0], size=max_rows, replace=False))]


class _BatchNormSnapshot:
    """Restore every BatchNorm running statistic after an inspection forward pass.

    The values are written back into the *same* state objects, so anyone holding a reference
    to a layer's ``state`` still sees the layer's statistics.
    """

    def __init__(self, model):
        self.saved = [(layer.state, layer.state.copy()) for _, layer in model.named_layers()
                      if isinstance(layer, (BatchNorm1d, BatchNorm2d))]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for state, saved in self.saved:
            for f in dataclasses.fields(saved):
                setattr(state, f.name, getattr(saved, f.name))


def _check_model(model):
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a lmsbn.nn.Sequential, got {type(model).__name__}")


def capture_regressors(model, x, *, max_rows: int = 20000, rng=None, train: bool = True,
                       layers=None) -> dict[str, np.ndarray]:
    """The regressors (im2col patches) entering every conv and linear layer of ``model``.

    Parameters
    ----------
    model : Sequential
    x : ndarray
        A batch of inputs.
    max_rows : int, default 20000
        At most this many rows per layer, drawn without replacement with ``rng``: what is kept
        stays bounded by ``max_rows * K`` per layer whatever the batch size (the rows are drawn
        from each conv layer's own forward cache, ``cache.cols``: no im2col is recomputed).
    rng : None, int or numpy.random.Generator
    train : bool, default True
        Run the forward pass in training mode (BatchNorm with batch statistics: what the layers
        see during training). Running statistics are restored afterwards, so inspecting a model
        never changes it.
    layers : iterable of str, optional
        Only these layers (default: every Conv1d, Conv2d and Linear).

    Returns
    -------
    dict of str to ndarray of shape (M, K)
        A layer with at most ``max_rows`` rows gives its cache's own array (no copy).
    """
    _check_model(model)
    max_rows = check_int(max_rows, "max_rows", min_value=1)
    rng = as_generator(rng)
    wanted = _combiner_names(model, layers)
    captured = {}

    def hook(name, layer, inp, out):
        if name in wanted:
            captured[name] = _subsample(_regressors_of(layer, inp, layer.cache), max_rows, rng)

    with _BatchNormSnapshot(model), model.register_forward_hook(hook):
        model.forward(x, train=train)
    return captured


def _combiner_names(model, layers):
    names = [n for n, layer in model.named_layers() if isinstance(layer, COMBINERS)]
    if layers is None:
        return names
    layers = [layers] if isinstance(layers, str) else list(layers)
    for n in layers:
        if n not in names:
            raise ValueError(f"layers entry {n!r} is not a conv or linear layer of the model; "
                             f"those are {names}")
    return layers


def layer_spectra(model, x, *, center: bool = False, max_rows: int = 20000, rng=None,
                  layers=None) -> dict[str, Spectrum]:
    """Spectrum of each conv/linear layer's input autocorrelation ``R = U^T U / M``.

    ``center=True`` gives the covariance instead (the mean spike of post-ReLU inputs removed).
    View a conv layer's channel structure with
    ``spectral.channel_blocks(spec.R, layer.in_channels, layer.kernel_shape)``.
    """
    captured = capture_regressors(model, x, max_rows=max_rows, rng=rng, layers=layers)
    return {name: Spectrum.from_regressors(U, center=center) for name, U in captured.items()}


def bn_followers(model) -> dict[str, str]:
    """``{combiner_name: batchnorm_name}`` for each conv/linear layer right before a BatchNorm."""
    _check_model(model)
    items = list(model.named_layers())
    return {n: items[i + 1][0] for i, (n, layer) in enumerate(items[:-1])
            if isinstance(layer, COMBINERS)
            and isinstance(items[i + 1][1], (BatchNorm1d, BatchNorm2d))}


def layer_case(model, name: str, *, trained=None) -> str:
    """``"exact"`` if the layer's LMS picture is exact, else ``"approximate"``.

    Exact means the layer is the last layer or the only layer being trained (``trained`` lists
    the trained layer names). The function does not see the loss: for the last layer the LMS
    picture is exact with an MSE loss (error = target - output); with cross-entropy read "exact"
    as "the error is the loss gradient at this layer's output, not back-propagated through other
    layers".
    """
    _check_model(model)
    names = [n for n, _ in model.named_layers()]
    if name not in names:
        raise ValueError(f"name must be a layer of the model, got {name!r}; layers are {names}")
    if trained is not None and set(trained) == {name}:
        return "exact"
    return "exact" if names[-1] == name else "approximate"

