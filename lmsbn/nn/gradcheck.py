"""Numerical gradients for checking a hand-written backward pass.

The recipe a student follows when their backward pass is suspect:

>>> import numpy as np
>>> from lmsbn.nn.gradcheck import numerical_gradient, rel_error
>>> x = np.random.default_rng(0).normal(size=(3, 4))
>>> dout = np.random.default_rng(1).normal(size=(3, 4))
>>> num = numerical_gradient(lambda x: np.tanh(x), x, dout)
>>> rel_error(num, dout * (1 - np.tanh(x) ** 2)) < 1e-8
True

Always use a *random* upstream gradient ``dout``: with ``dout = ones`` BatchNorm's true input
gradient is exactly zero, so a wrong backward that also returns zeros would pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmsbn._checks import as_float_array, as_generator, check_positive

__all__ = [
    "GradientCheckError", "check_backward", "numerical_gradient", "rel_error",
    "richardson_gradient",
]


class GradientCheckError(AssertionError):
    """A backward pass disagrees with the numerical gradient of its forward pass."""


def rel_error(a, b) -> float:
    r"""Largest elementwise relative error between two arrays.

    .. math:: \max_i \frac{|a_i - b_i|}{\max(10^{-8}, |a_i| + |b_i|)}

    The floor keeps entries where both values are (numerically) zero from dividing by zero.
    """
    a = as_float_array(a, "a", allow_empty=True, finite=False)
    b = as_float_array(b, "b", allow_empty=True, finite=False)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f: Callable, x: np.ndarray, dout, h: float = 1e-5) -> np.ndarray:
    r"""Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array``; called with ``x`` perturbed in place, one entry at a time.
    x : ndarray of float64, any shape
        The point at which to differentiate. It is restored after each perturbation.
    dout : ndarray, shape of ``f(x)``
        Upstream gradient. Use a random one, never ones.
    h : float, default 1e-5
        Step. With float64 the truncation error is O(h^2) and the round-off O(eps / h), so
        1e-5 gives about 1e-10 absolute accuracy for well-scaled functions.

    Returns
    -------
    ndarray, shape of ``x``
        :math:`\partial \sum_j f_j(x)\, \mathrm{dout}_j / \partial x`.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise TypeError("x must be a floating-point numpy array (it is perturbed in place), "
                        f"got {type(x).__name__}")
    h = check_positive(h, "h")
    dout = as_float_array(dout, "dout", allow_empty=True)
    # A dout of the wrong shape would broadcast against f(x) and give a wrong gradient silently.
    out_shape = np.shape(f(x))
    if dout.shape != out_shape:
        raise ValueError(f"dout must have the shape of f(x), {out_shape}, got {dout.shape}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(np.asarray(f(x)) * dout)
        x[i] = old - h
        minus = np.sum(np.asarray(f(x)) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def richardson_gradient(f: Callable, x: np.ndarray, dout, h: float = 1e-3) -> np.ndarray:
    r"""Richardson-extrapolated central difference, :math:`(4 D(h) - D(2h)) / 3`, error O(h^4).

    Why it exists: a plain central difference with h = 1e-5 carries ~1e-10 absolute round-off,
    so an analytic entry that happens to be ~1e-3 fails an *elementwise* relative tolerance of
    1e-7 even when the backward pass is right (measured: 7-9% of random BatchNorm cases). With
    h = 1e-3 and extrapolation the error is ~1e-11, so 1e-7 tests the formula, not the seed.
    """
    d_h = numerical_gradient(f, x, dout, h)
    d_2h = numerical_gradient(f, x, dout, 2 * h)
    return (4 * d_h - d_2h) / 3


def check_backward(
    forward: Callable,
    backward: Callable,
    inputs: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    tol: float = 1e-7,
    scaled: bool = False,
    rng=None,
) -> dict[str, float]:
    """Check a ``forward -> (out, cache)`` / ``backward(dout, cache) -> grads`` pair.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)``.
    backward : callable
        ``backward(dout, cache) -> grad`` or a tuple of grads, one per entry of ``inputs``.
        Extra trailing entries are ignored (e.g. the ``None`` of a missing bias). ``None`` for an
        entry of ``inputs`` passes only if the output does not depend on that input.
    inputs : sequence of ndarray
        The float64 arrays to differentiate with respect to (copied, never modified).
    names : sequence of str, optional
        Names used in the report; default ``x0, x1, ...``.
    tol : float, default 1e-7
        Largest acceptable :func:`rel_error`.
    scaled : bool, default False
        Measure ``max|analytic - numerical| / max|numerical|`` instead of the elementwise
        :func:`rel_error`: for randomised cases in which some entry cancels to nearly zero and
        only round-off is left in it.
    rng : None, int or Generator
        Source of the random upstream gradient.

    Returns
    -------
    dict
        ``{name: relative error}`` for every input whose gradient was compared (all of them,
        except inputs the output does not depend on and for which backward returned ``None``).

    Raises
    ------
    GradientCheckError
        With a readable report naming each input whose gradient is off.
    """
    rng = as_generator(rng)
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    names = list(names) if names is not None else [f"x{i}" for i in range(len(inputs))]
    if len(names) != len(inputs):
        raise ValueError(f"names must have one entry per input ({len(inputs)}), got {len(names)}")
    out, cache = forward(*inputs)
    dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) < len(inputs):
        raise GradientCheckError(
            f"backward returned {len(grads)} gradients for {len(inputs)} inputs")
    errors, lines = {}, []
    for k, (name, g) in enumerate(zip(names, grads)):

        def f_k(a, k=k):
            args = list(inputs)
            args[k] = a
            return forward(*args)[0]

        num = richardson_gradient(f_k, inputs[k], dout)
        if g is None:
            # A forgotten gradient must not pass silently: None is right only for an input the
            # output does not depend on.
            if np.any(np.abs(num) > 1e-12 * max(1.0, float(np.max(np.abs(out))))):
                lines.append(f"  {name}: backward returned None, but the output depends on it "
                             f"(numerical gradient up to {np.max(np.abs(num)):.3e})")
            continue
        if np.shape(g) != num.shape:
            raise GradientCheckError(
                f"gradient of {name} has shape {np.shape(g)}, expected {num.shape}")
        if scaled:
            err = float(np.max(np.abs(g - num)) / max(np.max(np.abs(num)), 1e-300))
        else:
            err = rel_error(g, num)
        errors[name] = err
        if not err < tol:
            idx = np.unravel_index(np.argmax(np.abs(g - num)), num.shape)
            lines.append(f"  {name}: rel_error {err:.3e} > {tol:.0e}; worst index {idx}: "
                         f"analytic {np.asarray(g)[idx]:.6e}, numerical {num[idx]:.6e}")
    if lines:
        raise GradientCheckError(
            "backward disagrees with the numerical gradient:\n" + "\n".join(lines))
    return errors
