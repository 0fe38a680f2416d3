"""``lmsbn.use``: run the whole library on a student's own forward/backward functions.

The layer classes (:mod:`lmsbn.nn.layers`), the training loop's losses and the bridge's
regressors all call the pure functions *through* the module :mod:`lmsbn.nn.functional`
(``F.conv2d_backward(dout, cache)``, never a reference captured at import time). Replacing an
attribute of that module therefore replaces the function everywhere at once:

>>> from lmsbn.homework.swap import use
>>> from lmsbn.nn import functional as F
>>> original = F.relu_forward
>>> def my_relu_forward(x):
...     return original(x)
>>> with use(relu_forward=my_relu_forward):
...     F.relu_forward is my_relu_forward
True
>>> F.relu_forward is original
True

What a swapped-in function must accept is exactly what the library passes to the original (see
each reference function's docstring). Three consequences worth knowing:

* A backward swapped in *alone* receives the cache of the library's forward pass
  (:class:`~lmsbn.nn.conv.ConvCache`, :class:`~lmsbn.nn.batchnorm.BatchNormCache`); swap the
  forward as well when your backward expects your own cache.
* The ModeTracker and the BatchNorm/NLMS bridge read ``cache.sigma`` and ``cache.xhat`` of
  BatchNorm layers, so a swapped ``batchnorm_forward`` should return a cache with those
  attributes (a ``namedtuple`` is enough) for them to keep working.
* The library's conv functions call ``im2col2d`` and ``col2im2d`` (``im2col1d`` / ``col2im1d``
  for Conv1d) through :mod:`lmsbn.nn.functional` too, so
  ``with use(im2col2d=mine, col2im2d=mine2): train(...)`` trains every Conv2d through your
  functions, and the bridge's regressors (read from the conv cache) are your im2col's. They
  are called as ``im2col2d(x, kh, kw, stride=s, pad=p)`` and ``col2im2d(dcols, x_shape, kh, kw,
  stride=s, pad=p)``, with ``s`` and ``p`` plain ints unless the layer's two axes differ.

Adaptive filters take part the same way, through the one-sample steps of :mod:`lmsbn.filters.rules`
(``lms_step``, ``nlms_step``, with homework 1's signature ``(w, u, d, *params) -> (w_next, e)``):
inside ``use(lms_step=mine)`` an :class:`~lmsbn.filters.LMS` filter runs every sample of every
realization through ``mine``. Which modules take part is the registry :data:`MODULES`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect

from lmsbn._checks import describe

__all__ = ["MODULES", "swappable", "use"]

#: The modules the library calls *through* (``module.function(...)``, never a reference captured
#: at import), so replacing one of their attributes replaces the function everywhere. A module
#: names its swappable functions in a ``SWAPPABLE`` tuple; without one, its public functions are
#: swappable except the ``*_naive`` twins (nothing in the library calls them).
MODULES = ("lmsbn.nn.functional", "lmsbn.filters.rules")


def _registry() -> dict:
    """``{name: module}`` for every swappable name."""
    names = {}
    for module in map(importlib.import_module, MODULES):
        listed = getattr(module, "SWAPPABLE", None)
        if listed is None:
            listed = [name for name in module.__all__
                      if inspect.isfunction(getattr(module, name)) and not name.endswith("_naive")]
        names.update(dict.fromkeys(listed, module))
    return names


def swappable() -> tuple[str, ...]:
    """Names that :func:`use` accepts, from every module of :data:`MODULES`.

    For :mod:`lmsbn.nn.functional`: its public functions, without the ``*_naive`` twins, the
    classes and the constants (``BatchNormState``, ``BN_MODES``); for :mod:`lmsbn.filters.rules`:
    ``lms_step`` and ``nlms_step``.
    """
    return tuple(sorted(_registry()))


@contextlib.contextmanager
def use(**replacements):
    """Swap student implementations into the library for the ``with`` block.

    Parameters
    ----------
    **replacements : callable
        ``name=function`` pairs; each name must be one of :func:`swappable`, e.g.
        ``conv2d_forward``, ``conv2d_backward``, ``batchnorm_forward``, ``batchnorm_backward``,
        ``linear_backward``, ``relu_forward``, ``softmax_cross_entropy``, ``im2col2d``,
        ``col2im2d``, ``lms_step``, ``nlms_step``.

    Yields
    ------
    dict
        ``{name: original function}``, so the block can still call the library's reference.

    Raises
    ------
    ValueError
        An unknown name (the message lists the valid ones), or no replacement at all.
    TypeError
        A replacement that is not callable.

    Notes
    -----
    Everything is validated before anything is replaced, and the originals -- more precisely,
    whatever was installed when the block was entered -- are restored on exit, also when the
    block raises. Blocks nest: an inner ``use`` overrides and then restores the outer one's
    functions. The swap is process-wide (a module attribute), so it is not thread-safe.

    Examples
    --------
    >>> from lmsbn.homework.swap import use
    >>> from lmsbn.nn import functional as F
    >>> calls = []
    >>> def spy(dout, cache):
    ...     calls.append(dout.shape)
    ...     return lmsbn_backward(dout, cache)
    >>> lmsbn_backward = F.conv2d_backward
    >>> with use(conv2d_backward=spy):
    ...     pass  # train a model here: every Conv2d layer's backward pass now calls spy
    """
    registry = _registry()
    if not replacements:
        raise ValueError(f"use() needs at least one name=function pair; valid names: "
                         f"{', '.join(sorted(registry))}")
    unknown = sorted(set(replacements) - set(registry))
    if unknown:
        raise ValueError(f"use() got unknown name(s) {', '.join(map(repr, unknown))}; valid "
                         f"names are the swappable functions of {' and '.join(MODULES)}: "
                         f"{', '.join(sorted(registry))}")
    for name, fn in replacements.items():
        if not callable(fn):
            raise TypeError(f"use({name}=...) must be given a function, got {describe(fn)}")
    originals = {name: getattr(registry[name], name) for name in replacements}
    # A function is also swapped in the module that defines it, when that module still holds it:
    # the conv functions call ``im2col.im2col2d`` there (im2col sits below conv, and
    # nn.functional, which gathers both, sits above them).
    homes = {name: [registry[name]] + [m for m in (inspect.getmodule(fn),)
                                       if m is not None and m is not registry[name]
                                       and getattr(m, name, None) is fn]
             for name, fn in originals.items()}
    try:
        for name, fn in replacements.items():
            for module in homes[name]:
                setattr(module, name, fn)
        yield dict(originals)
    finally:
        for name, fn in originals.items():
            for module in homes[name]:
                setattr(module, name, fn)
