"""The machinery behind :mod:`lmsbn.homework`: call a student's function safely, compare its
outputs with the reference, and turn every way it can go wrong into one plain message.

Students never import this module; graders read it to know exactly what a check does.
:class:`ExerciseFailed` and :class:`ExerciseReport` are re-exported by :mod:`lmsbn.homework`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import traceback

import numpy as np

from lmsbn._checks import as_generator, check_positive, describe

__all__ = ["ExerciseFailed", "ExerciseReport", "VISIBLE_SEED", "HIDDEN_SEED"]

#: Seeds of the visible and the hidden cases (``rng=None``).
VISIBLE_SEED, HIDDEN_SEED = 2020, 7919

_LMSBN_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))


class ExerciseFailed(AssertionError):
    """A student's function gave a wrong result, or could not be run on a check case.

    Attributes
    ----------
    student_exception : BaseException or None
        The exception the student's code raised, when that is why the check failed.
    """

    def __init__(self, message: str, student_exception: BaseException | None = None):
        super().__init__(message)
        self.student_exception = student_exception


@dataclasses.dataclass(frozen=True)
class ExerciseReport:
    """What a passing check returns: how many cases ran and the largest relative error seen.

    Attributes
    ----------
    check : str
        Name of the checker, e.g. ``"check_conv_forward"``.
    cases : int
        Number of randomised cases that passed.
    max_error : float
        Largest relative error over all outputs and cases (see the module docstring).
    hidden : bool
        Whether the hidden cases were used.
    """

    check: str
    cases: int
    max_error: float
    hidden: bool = False

    def __str__(self) -> str:
        which = "hidden cases" if self.hidden else "cases"
        return f"{self.check}: {self.cases} {which} passed (max rel error {self.max_error:.1e})"

    __repr__ = __str__


# --------------------------------------------------------------------------------------------
# The plumbing every checker shares: call the student safely, validate and compare outputs
# --------------------------------------------------------------------------------------------

def _student_frame(exc: BaseException) -> str:
    """``' (at <file>:<line>: <code>)'`` for the innermost frame outside numpy and lmsbn."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = os.path.abspath(frame.filename)
        if not (path.startswith(_LMSBN_DIR) or path.startswith(_NUMPY_DIR)):
            code = f": {frame.line.strip()}" if frame.line else ""
            return f" (at {os.path.basename(frame.filename)} line {frame.lineno}{code})"
    return ""


def _describe(value) -> str:
    """:func:`describe`, or the type's name when the object cannot even be printed."""
    try:
        return describe(value)
    except Exception:  # noqa: BLE001 -- a student's object whose repr raises
        return f"a {type(value).__name__} object"


class _Session:
    """State of one ``check_*`` call: the current case and the largest error so far."""

    def __init__(self, check: str, tol: float, cases: list, hidden: bool):
        self.check, self.tol, self.cases, self.hidden = check, tol, cases, hidden
        self.label, self.index, self.max_error = "", 0, 0.0
        self.signatures: dict[str, str] = {}

    def __iter__(self):
        for index, (label, data) in enumerate(self.cases, start=1):
            self.index, self.label = index, label
            yield data

    def fail(self, message: str, exc: BaseException | None = None):
        __tracebackhide__ = True  # pytest and IPython then show the message, not lmsbn frames
        where = f"\n  case {self.index} of {len(self.cases)}: {self.label}" if self.label else ""
        raise ExerciseFailed(f"{self.check}: {message}{where}", exc)

    def require_callable(self, fn, name: str, signature: str):
        __tracebackhide__ = True
        self.signatures[name] = signature
        if not callable(fn):
            self.fail(f"expected a function {name}{signature}, got {describe(fn)}")

    def call(self, fn, name: str, *args, **kwargs):
        """Call the student's function; any exception becomes an ExerciseFailed.

        The array arguments must come back unchanged: a function that writes into its inputs
        corrupts its caller's data (a weight history aliasing the final weights, a network's
        activations), even when its return value is right.
        """
        __tracebackhide__ = True
        arrays = dict(enumerate(args))
        arrays.update(kwargs)
        before = {key: value.copy() for key, value in arrays.items()
                  if isinstance(value, np.ndarray)}
        result = self._call(fn, name, *args, **kwargs)
        # Positional arguments are named after the expected signature, e.g. "(w, u, d, mu)".
        params = [p.split("=")[0].strip(" *") for p in
                  self.signatures.get(name, "()").strip("()").split(",")]
        for key, saved in before.items():
            if not np.array_equal(arrays[key], saved, equal_nan=saved.dtype.kind in "fc"):
                which = (f"`{params[key]}`" if isinstance(key, int) and key < len(params)
                         and params[key] else f"`{key}`" if isinstance(key, str)
                         else f"argument {key + 1}")
                self.fail(f"{name} modified its input {which} in place; leave the inputs "
                          f"unchanged and return new arrays (e.g. `w_next = w + ...`, not "
                          f"`w += ...`)")
        return result

    def _call(self, fn, name: str, *args, **kwargs):
        __tracebackhide__ = True
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 -- *any* student error must become a plain message
            hint = ""
            if isinstance(exc, NotImplementedError):
                hint = " -- the exercise is not implemented yet"
            elif isinstance(exc, TypeError) and exc.__traceback__.tb_next is None:
                # Raised by the call itself, not inside the function: a signature mismatch.
                hint = f" -- the expected signature is {name}{self.signatures.get(name, '(...)')}"
            text = f": {exc}" if str(exc) else ""
            msg = f"{name} raised {type(exc).__name__}{text}{_student_frame(exc)}{hint}"
            self.fail(msg, exc)

    def outputs(self, result, name: str, names: tuple[str, ...]) -> tuple:
        """Split a returned tuple into its ``len(names)`` outputs, or fail saying what came back."""
        __tracebackhide__ = True
        want = f"{len(names)} values ({', '.join(names)})"
        if not isinstance(result, (tuple, list)):
            got = "None (did you forget `return`?)" if result is None else _describe(result)
            self.fail(f"{name} must return {want}, got a single value: {got}")
        if len(result) != len(names):
            self.fail(f"{name} must return {want}, got {len(result)} values")
        return tuple(result)

    def array(self, value, name: str, output: str, expected: np.ndarray) -> np.ndarray:
        """``value`` as an array with ``expected``'s shape and dtype, or fail saying why not."""
        __tracebackhide__ = True
        if value is None:
            self.fail(f"{name} returned None for `{output}` (did you forget `return`?); "
                      f"expected an array of shape {expected.shape}")
        try:
            got = np.asarray(value)
        except Exception as exc:  # noqa: BLE001 -- e.g. a torch tensor requiring grad
            text = f": {exc}" if str(exc) else ""
            self.fail(f"`{output}` returned by {name} cannot be read as an array "
                      f"({type(exc).__name__}{text}); got {_describe(value)}, expected an array "
                      f"of shape {expected.shape}", exc)
        if got.dtype.kind not in "fiub":
            self.fail(f"`{output}` returned by {name} has dtype {got.dtype}, expected a real "
                      f"{expected.dtype} array of shape {expected.shape}")
        if expected.shape == () and got.size == 1:
            got = got.reshape(())
        if got.shape != expected.shape:
            self.fail(f"`{output}` returned by {name} has shape {got.shape}, expected "
                      f"{expected.shape}")
        if got.dtype != expected.dtype:
            self.fail(f"`{output}` returned by {name} has dtype {got.dtype}, expected "
                      f"{expected.dtype} (e.g. create it with np.zeros(..., dtype=x.dtype))")
        return got

    def compare(self, value, name: str, output: str, expected) -> None:
        """Compare one output with the reference; remember the error or fail naming the index."""
        __tracebackhide__ = True
        expected = np.asarray(expected)
        got = self.array(value, name, output, expected)
        if expected.size == 0:
            return
        scale = float(np.max(np.abs(expected)))
        floor = max(1e-6 * scale, 1e-300)
        with np.errstate(all="ignore"):  # a student's inf or NaN is reported, not warned about
            err = np.abs(got - expected) / np.maximum(np.abs(got) + np.abs(expected), floor)
            err = np.where(np.isnan(err), np.inf, err)
        worst = float(np.max(err))
        if not worst <= self.tol:
            idx = np.unravel_index(int(np.argmax(err)), err.shape)
            at = f" at index {tuple(int(i) for i in idx)}" if expected.ndim else ""
            self.fail(f"`{output}` is wrong{at}: got {float(got[idx]):.8g}, "
                      f"expected {float(expected[idx]):.8g} "
                      f"(relative error {worst:.2e} > tolerance {self.tol:.0e}); "
                      f"shape {expected.shape}")
        self.max_error = max(self.max_error, worst)

    def report(self) -> ExerciseReport:
        return ExerciseReport(self.check, len(self.cases), self.max_error, self.hidden)


def _plain_failure(check):
    """Decorator: re-raise a checker's ExerciseFailed from the checker's own frame.

    Without it a failure would print the chain of lmsbn's internal frames and, chained before
    them, the student's exception; the student needs the message (which already names their
    line) and nothing else. The student's exception stays available as ``student_exception``.
    """
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return check(*args, **kwargs)
        except ExerciseFailed as err:
            raise err.with_traceback(None) from None

    return wrapper


def _setup(rng, hidden, tol):
    if not isinstance(hidden, (bool, np.bool_)):
        raise TypeError(f"hidden must be a bool, got {describe(hidden)}")
    tol = check_positive(tol, "tol")
    if rng is None:
        rng = HIDDEN_SEED if hidden else VISIBLE_SEED
    rng = as_generator(rng)
    return rng, bool(hidden), tol


def _shape_label(**arrays) -> str:
    parts = []
    for k, v in arrays.items():
        parts.append(f"{k} {tuple(np.shape(v))}" if isinstance(v, np.ndarray) else f"{k}={v!r}")
    return ", ".join(parts)
