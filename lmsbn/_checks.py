"""Input validation shared by every public function.

Each public function checks its arguments here, at the boundary, so that a mistake surfaces as a
``ValueError`` or ``TypeError`` that names the argument, says what was expected and shows what
was received -- never as an ``IndexError`` or a broadcasting error from deep inside NumPy.

The conventions enforced here are those of the whole library:

* arrays are floating point; float64 is the default, float32 is preserved, integers and booleans
  are converted to float64 (exactly for every int of magnitude up to 2**53, which covers pixel
  values, labels and counts; larger ones are rounded to the nearest float64); complex, object
  and string arrays are rejected;
* randomness comes from a :class:`numpy.random.Generator` built by :func:`as_generator`, never
  from NumPy's global state.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

__all__ = [
    "as_float_array",
    "as_generator",
    "check_bool",
    "check_choice",
    "check_int",
    "check_positive",
    "check_shape",
    "describe",
]


def describe(x) -> str:
    """A short description of a received value for error messages."""
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)) and len(x) > 6:
        return f"{type(x).__name__} of length {len(x)}"
    return f"{x!r} ({type(x).__name__})"


def as_float_array(
    x,
    name: str,
    *,
    ndim: int | Iterable[int] | None = None,
    min_ndim: int | None = None,
    allow_empty: bool = False,
    finite: bool = True,
    dtype=None,
) -> np.ndarray:
    """Convert ``x`` to a floating-point array, or raise a clear error.

    Parameters
    ----------
    x : array_like
        The value to convert.
    name : str
        The argument's name, used in error messages.
    ndim : int or iterable of int, optional
        Allowed numbers of dimensions.
    min_ndim : int, optional
        Minimum number of dimensions.
    allow_empty : bool, default False
        Whether an array with a zero-length axis is acceptable.
    finite : bool, default True
        Reject NaN and infinite entries.
    dtype : numpy dtype, optional
        Force this floating dtype. By default float32 and float64 are kept and everything else
        real (int, uint, bool) becomes float64.

    Returns
    -------
    numpy.ndarray
        A floating-point array (a view of ``x`` when no conversion was needed).
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a real numeric array, got {describe(x)}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise TypeError(
            f"{name} must be a real numeric array, got {type(x).__name__}: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif kind != "f" or arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, numbers.Integral) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite entries")
    return arr


def check_shape(arr: np.ndarray, name: str, expected: tuple, *, what: str = "") -> None:
    """Raise ``ValueError`` unless ``arr.shape`` matches ``expected`` (``None``: any size)."""
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        want = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        extra = f" {what}" if what else ""
        raise ValueError(f"{name} must have shape {want}{extra}, got {arr.shape}")


def check_positive(value, name: str, *, allow_zero: bool = False, finite: bool = True) -> float:
    """Return ``value`` as a float, raising unless it is a positive (or non-negative) real."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        want = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {want}, got {value}")
    return value


def check_int(value, name: str, *, min_value: int | None = None,
              max_value: int | None = None) -> int:
    """Return ``value`` as an int, raising unless it is an integer within the given range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_bool(value, name: str) -> bool:
    """``value`` as a plain bool; a TypeError naming ``name`` for anything else (e.g. ``"yes"``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {describe(value)}")
    return bool(value)


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise listing the valid options."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {describe(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def as_generator(rng=None) -> np.random.Generator:
    """Turn ``rng`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        ``None`` gives fresh OS entropy, an int seeds a new PCG64 generator, and a ``Generator``
        is returned unchanged (so a caller can thread one generator through many calls).
        NumPy's global random state is never touched.
    """
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError("rng must be None, an int seed or a numpy.random.Generator, "
                    f"got {describe(rng)}")
