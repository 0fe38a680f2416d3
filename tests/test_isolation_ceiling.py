"""lmsbn.experiments.chai.ceiling: the best one-sided per-channel rescale of a layer's R."""

from pathlib import Path

import numpy as np
import pytest

from lmsbn.experiments.chai import IsolationCeiling, isolation_ceiling
from lmsbn.experiments.chai.ceiling import best_channel_rescale, channel_gradients

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"
HOLD = 0.10


def _drd(R, d):
    dk = np.repeat(d, R.shape[0] // len(d))
    return np.linalg.eigvalsh(dk[:, None] * R * dk[None, :])


def _random_r(C, k, rng):
    A = rng.normal(size=(C * k, 3 * C * k))
    return A @ A.T / A.shape[1]


@pytest.fixture(scope="module")
def procedural():
    # seed 0, conv2 only: the first layer after a normalisation, where the variant network's R
    # is exactly D R_center D at initialisation.
    return isolation_ceiling(seeds=(0,), layers=("conv2",), restarts=1)


# ------------------------------------------------------------------------ the gradient
def test_channel_gradients_match_central_differences():
    rng = np.random.default_rng(3)
    C, k = 4, 3
    R = _random_r(C, k, rng)
    d = rng.uniform(0.5, 2.0, C)
    lam = _drd(R, d)
    assert min(lam[1] - lam[0], lam[-1] - lam[-2]) > 1e-2 * lam[-1]   # simple: differentiable
    grads = channel_gradients(R, d, C)
    h = 1e-6
    fd = np.zeros((2, C))
    for c in range(C):
        up, down = d.copy(), d.copy()
        up[c] += h
        down[c] -= h
        fd[:, c] = (_drd(R, up)[[0, -1]] - _drd(R, down)[[0, -1]]) / (2 * h)
    # Central differences: truncation O(h^2) ~ 1e-12, round-off eps * lambda / h ~ 1e-9 of the
    # eigenvalues' scale (the eigensolver's backward error), hence 1e-6 relative to the largest.
    np.testing.assert_allclose(grads, fd, rtol=0, atol=1e-6 * np.abs(grads).max())
    # The second form of the Notes: 2 lambda_i w_i[c] / d_c with w_i the eigenvector's weight.
    dk = np.repeat(d, k)
    lam, V = np.linalg.eigh(dk[:, None] * R * dk[None, :])
    w = (V[:, [0, -1]] ** 2).reshape(C, k, 2).sum(axis=1).T
    np.testing.assert_allclose(grads, 2 * lam[[0, -1], None] * w / d, rtol=1e-9)


# --------------------------------------------------------------------- a known answer
def _blocks():
    # Block-diagonal R, one 2x2 block per channel (rotated inside the block): every eigenvector
    # lives on one channel. Channel eigenvalues {0.1, 0.2}, {0.5, 0.4}, {10, 0.3}, so
    # lambda_min = 0.1 on channel 0 and lambda_max = 10 on channel 2.
    # amplify: lift channel 0 freely (its block stays far below 11 = 1.1 lambda_max), but the
    # spectrum's floor is then channel 2's 0.3, which may rise only with lambda_max: x1.1, so
    # the best lambda_min is 0.33, a gain of 3.3. suppress: shrink channel 2 until its small
    # eigenvalue hits the floor 0.9 * 0.1 = 0.09 (e = 0.3): lambda_max 10 * 0.3 = 3, gain 10/3.
    rng = np.random.default_rng(0)
    R = np.zeros((6, 6))
    for c, ev in enumerate(([0.1, 0.2], [0.5, 0.4], [10.0, 0.3])):
        q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
        R[2 * c:2 * c + 2, 2 * c:2 * c + 2] = q @ np.diag(ev) @ q.T
    return R


@pytest.mark.parametrize("variant, optimum", [("amplify", 3.3), ("suppress", 10 / 3)])
def test_search_finds_the_known_optimum_of_a_block_diagonal_r(variant, optimum):
    found = best_channel_rescale(_blocks(), 3, variant, restarts=2, rng=1)
    # The barrier stops at a relative duality gap of 1e-5; 1e-4 leaves room for that.
    assert found["gain"] == pytest.approx(optimum, rel=1e-4)
    assert found["gain"] >= 2.0
    np.testing.assert_allclose(found["per_start"], optimum, rtol=1e-4)


# ------------------------------------------------------------------ constraints and quality
@pytest.mark.parametrize("variant", ["amplify", "suppress"])
def test_search_keeps_its_constraints_and_beats_every_simple_design(variant):
    rng = np.random.default_rng(5)
    C, k = 6, 4
    # A post-ReLU-like R: a strong common mean direction plus a random covariance, so the two
    # ends share channels and the answer is not trivial.
    mean = np.repeat(rng.uniform(0.5, 2.0, C), k)
    R = _random_r(C, k, rng) + np.outer(mean, mean)
    lam0 = _drd(R, np.ones(C))
    amp = variant == "amplify"

    def measured(d):
        lam = _drd(R, d)
        own = lam[0] / lam0[0] if amp else lam0[-1] / lam[-1]
        other = lam[-1] / lam0[-1] if amp else lam[0] / lam0[0]
        return own, other

    def held(d):
        return abs(measured(d)[1] - 1) <= HOLD

    def best_on_segment(d):
        # pull d towards all ones until the other end is held, then scale uniformly up (down)
        # to the hold: the best a design of this shape can do.
        lo, hi = 0.0, 1.0
        for _ in range(50):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if held(1 + mid * (d - 1)) else (lo, mid)
        d = 1 + lo * (d - 1)
        other = measured(d)[1]
        return measured(d * np.sqrt((1 + HOLD if amp else 1 - HOLD) / other))[0]

    variant_like = np.where(rng.random(C) < 0.5, 1.0, 1.5 if amp else 0.6)
    found = best_channel_rescale(R, C, variant, starts=[variant_like], restarts=1, rng=0)
    d = found["factors"]
    assert np.all(d >= 1) if amp else np.all((d > 0) & (d <= 1))
    own, other = measured(d)
    assert own == pytest.approx(found["gain"], rel=1e-9)          # the reported gain is measured
    assert other == pytest.approx(found["other"], rel=1e-9)
    assert held(d)
    # All ones scaled to the hold gives exactly 1.1 (1 / 0.9); the search must do at least that,
    # and at least as well as the variant-like start and 30 random one-sided designs, each
    # pulled back to the hold and scaled to it (up to the barrier's tolerance, 1e-5).
    rivals = [1 + HOLD if amp else 1 / (1 - HOLD), best_on_segment(variant_like)]
    rivals += [best_on_segment(np.exp((1 if amp else -1) * np.abs(rng.normal(0, 0.5, C))))
               for _ in range(30)]
    assert found["gain"] >= max(rivals) * (1 - 1e-5)
    assert found["gain"] > rivals[0] * 1.01          # this R leaves something to find


def test_search_rejects_bad_input():
    R = _blocks()
    with pytest.raises(ValueError, match="variant"):
        best_channel_rescale(R, 3, "center")
    with pytest.raises(ValueError, match="divisible by n_channels"):
        best_channel_rescale(R, 4, "amplify")
    with pytest.raises(ValueError, match="positive definite"):
        best_channel_rescale(np.diag([1.0, 0.0, 1.0, 1.0]), 2, "amplify")
    with pytest.raises(ValueError, match="starts entries"):
        best_channel_rescale(R, 3, "amplify", starts=[np.full(3, 0.5)])
    with pytest.raises(ValueError, match="d must hold"):
        channel_gradients(R, np.array([1.0, -1.0, 1.0]), 3)
    with pytest.raises(ValueError, match="layers"):
        isolation_ceiling(layers=("conv1",), n_train=32, n_probe=16)


# --------------------------------------------------------------------- the finding itself
def test_on_the_procedural_data_no_per_channel_rescale_found_reaches_2x(procedural):
    # The acceptance test ("amplify raises lambda_min >= 2x with lambda_max within 10 %")
    # turned into its measured finding: on the procedural data, seed 0, conv2 at
    # initialisation, the best one-sided per-channel design found gives amplify x1.34 and
    # suppress /1.49 (measured). Fails if a better design exists and the search finds it.
    res = procedural
    assert res.layers == ("conv2",)
    assert res.best[0, 0, 0, 0] < 2.0 and res.best[1, 0, 0, 0] < 2.0
    assert not res.reaches("amplify").any() and not res.reaches("suppress").any()
    assert res.best[0, 0, 0, 1] <= 1 + HOLD + 1e-9 and res.best[1, 0, 0, 1] >= 1 - HOLD - 1e-9
    assert res.verdict().count("no per-channel rescale found reaches 2x") == 2
    # Every start reaches the same optimum (the problem is convex in d**2), to the barrier's
    # relative tolerance 1e-5 (with margin).
    assert np.all(res.agreement < 1e-4)
    # The adopted median design moves its own end no further than the best design can move it
    # with the other end held -- when it holds that end itself.
    adopted, best = res.adopted[:, 0, 0], res.best[:, 0, 0]
    for v in range(2):
        if abs(adopted[v, 1] - 1) <= HOLD:
            assert adopted[v, 0] <= best[v, 0] * (1 + 1e-5)
    # Sensitivity at d = 1: twice each end's eigenvector weights, summing to 2 per end.
    np.testing.assert_allclose(np.nansum(res.sensitivity, axis=-1), 2.0, rtol=1e-9)
    assert 0 <= res.overlap[0, 0] <= 1 + 1e-12


def test_ceiling_summary_and_save_load(procedural, tmp_path):
    back = IsolationCeiling.load(procedural.save(tmp_path / "ceiling"))
    np.testing.assert_array_equal(back.best, procedural.best)
    assert back.summary() == procedural.summary()
    assert "lower bound" in back.verdict() and "impossible" not in back.verdict()
    assert "conv2" in back.summary()


def test_ceiling_sees_the_r_that_variant_isolation_measures():
    # Same data, seed, probe and rows: the adopted design's factors on the ceiling's R are the
    # "rescaled" diagnosis of variant_isolation at initialisation (one code path, same inputs;
    # 1e-12 only because the two results store them through different arithmetic: 1 / x).
    from lmsbn.experiments.chai import variant_isolation

    iso = variant_isolation(seeds=(0,), steps=1, n_probe=64)
    res = isolation_ceiling(seeds=(0,), layers=("conv2",), n_probe=64, restarts=0)
    amp_min, amp_max, sup_min, sup_max = iso.rescaled[0, 0, 0, :4]
    np.testing.assert_allclose(res.adopted[:, 0, 0], [[amp_min, amp_max], [1 / sup_max, sup_min]],
                               rtol=1e-12)
    assert "isolation_ceiling" in iso.verdict()     # the variants' verdict points here


@pytest.mark.skipif(not MNIST.exists(),
                    reason="the MNIST sample ../shared/data/mnist5k.npz is absent")
def test_on_mnist_a_per_channel_rescale_reaches_2x():
    # The same search on MNIST (first 1000 images, conv2 at initialisation): the finding can
    # come out the other way, and does for seed 2 (measured: amplify x2.49, suppress /2.76;
    # seeds 0 and 1 stay below, x1.59 and x1.39, /1.78 and /1.43).
    from lmsbn.data import load_npz

    X, y = load_npz(MNIST, normalize=True)
    res = isolation_ceiling(X=X[:1000], y=y[:1000], seeds=(2,), layers=("conv2",), restarts=0)
    assert res.reaches("amplify").any() or res.reaches("suppress").any()
    assert "can reach the 2x target here" in res.verdict()
