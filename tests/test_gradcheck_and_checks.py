"""The numerical-gradient tools and the boundary checks every public function relies on."""

import numpy as np
import pytest

from lmsbn._checks import as_float_array, as_generator, check_choice, check_int, check_positive
from lmsbn.nn.gradcheck import GradientCheckError, check_backward, numerical_gradient, rel_error


def test_numerical_gradient_of_a_known_function():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    num = numerical_gradient(np.sin, x, dout)
    # Central differences with h = 1e-5 have truncation error ~h^2/6 |f'''| ~ 2e-11 and round-off
    # ~1e-16/1e-5 = 1e-11 per entry, so 1e-8 relative is a safe yet meaningful bound.
    assert rel_error(num, dout * np.cos(x)) < 1e-8


def test_numerical_gradient_refuses_a_dout_that_would_broadcast():
    # (4,) broadcasts against a (3, 4) output and would silently give a wrong gradient.
    x = np.ones((3, 4))
    with pytest.raises(ValueError,
                       match=r"dout must have the shape of f\(x\), \(3, 4\), got \(4,\)"):
        numerical_gradient(np.sin, x, np.ones(4))


def test_numerical_gradient_restores_x():
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    numerical_gradient(lambda a: a**2, x, np.ones_like(x))
    assert np.array_equal(x, before)


def test_check_backward_refuses_a_missing_gradient_for_an_input_that_matters():
    # A backward that returns None for gamma must not pass as "nothing to check"; None is right
    # only for an input the output does not depend on.
    def forward(x, g, unused):
        return x * g, (x, g)

    def forgets_g(dout, cache):
        return dout * cache[1], None, None

    def full(dout, cache):
        return dout * cache[1], (dout * cache[0]).sum(axis=0), None

    rng = np.random.default_rng(2)
    x, g, unused = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3)
    with pytest.raises(GradientCheckError, match="g: backward returned None, but the output"):
        check_backward(forward, forgets_g, [x, g, unused], names=["x", "g", "unused"], rng=0)
    assert set(check_backward(forward, full, [x, g, unused], names=["x", "g", "unused"],
                              rng=0)) == {"x", "g"}


def test_check_backward_catches_a_wrong_backward():
    def forward(x):
        return x**3, x

    def good(dout, x):
        return 3 * x**2 * dout

    def wrong(dout, x):  # a classic slip: forgot the factor 3
        return x**2 * dout

    x = np.random.default_rng(1).normal(size=(5,))
    errors = check_backward(forward, good, [x], names=["x"], rng=0)
    assert errors["x"] < 1e-7
    with pytest.raises(GradientCheckError, match="x: rel_error"):
        check_backward(forward, wrong, [x], names=["x"], rng=0)


def test_rel_error_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(3), np.zeros(4))


def test_as_float_array_conversions_and_rejections():
    assert as_float_array([1, 2], "x").dtype == np.float64
    assert as_float_array(np.ones(2, np.float32), "x").dtype == np.float32
    with pytest.raises(TypeError, match="x must be real"):
        as_float_array(np.ones(2, complex), "x")
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        as_float_array(np.array(["a"]), "x")
    with pytest.raises(ValueError, match="x must be finite"):
        as_float_array([1.0, np.nan], "x")
    with pytest.raises(ValueError, match="x must not be empty"):
        as_float_array(np.zeros((0, 2)), "x")
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        as_float_array(np.zeros(3), "x", ndim=2)


def test_scalar_checks_name_the_argument():
    with pytest.raises(ValueError, match="mu must be positive, got -0.1"):
        check_positive(-0.1, "mu")
    with pytest.raises(TypeError, match="taps must be an integer"):
        check_int(2.5, "taps")
    with pytest.raises(ValueError, match="mode must be one of"):
        check_choice("fulll", "mode", ("full", "center"))


def test_as_generator_is_reproducible_and_leaves_global_state_alone():
    state = np.random.get_state()[1].copy()
    a = as_generator(7).normal(size=5)
    b = as_generator(7).normal(size=5)
    assert np.array_equal(a, b)
    g = np.random.default_rng(3)
    assert as_generator(g) is g
    assert np.array_equal(np.random.get_state()[1], state)
    with pytest.raises(TypeError, match="rng must be"):
        as_generator("seed")
