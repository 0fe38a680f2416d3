"""lmsbn.experiments.chai: eigen spectra and the scale test, the lr sweep, the first step."""

from pathlib import Path

import numpy as np
import pytest

from lmsbn.experiments.chai import (
    EigenSpectra,
    FirstStep,
    LRSweep,
    VariantIsolation,
    eigen_spectra,
    first_step,
    lr_sweep,
    variant_isolation,
)

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"
TINY = {"widths": (4, 8, 8), "n_data": 96, "batch_size": 16}


@pytest.fixture(scope="module")
def spectra():
    return eigen_spectra(norms=("none", "full"), steps=4, n_probe=48, max_rows=1500, **TINY)


@pytest.fixture(scope="module")
def sweep():
    # At lr 30 the plain network diverges for seeds 2 and 3 while BatchNorm trains (measured for
    # seeds 0-3 with this configuration: large steps sometimes kill the plain network's ReLUs
    # instead of blowing it up, so which seeds diverge is seed-dependent; these two do).
    return lr_sweep(quick=True, lrs=(0.3, 30.0), norms=("none", "full"), seeds=(2, 3), steps=12,
                    n_train=128, n_eval=32)


@pytest.fixture(scope="module")
def first():
    return first_step(steps=12, every=4, **TINY)


# ------------------------------------------------------------------------------ eigen_spectra
def test_scale_test_without_batchnorm_every_layer_scales_by_scale_squared(spectra):
    # At initialisation the biases are zero and ReLU, max-pool and GAP are positively
    # homogeneous, so R scales by exactly 100: only round-off separates the ratio from 100.
    for layer, ratio in spectra.scale_ratios("none", "init").items():
        assert ratio == pytest.approx(100.0, rel=1e-9), layer
    for layer, ratio in spectra.scale_ratios("none", "init", what="lambda_max").items():
        assert ratio == pytest.approx(100.0, rel=1e-9), layer
    # After a few steps the biases are small but non-zero: homogeneity holds approximately
    # (measured: at most 1.7 % off, 101.68); 3 % leaves margin for the bias terms.
    for layer, ratio in spectra.scale_ratios("none", "trained").items():
        assert ratio == pytest.approx(100.0, rel=0.03), layer


def test_scale_test_with_batchnorm_deeper_layers_do_not_scale(spectra):
    for stage in ("init", "trained"):
        ratios = spectra.scale_ratios("full", stage)
        assert ratios["conv1"] == pytest.approx(100.0, rel=1e-9)  # the raw data: no BN before it
        # BatchNorm divides by sqrt(var + eps) with var >> eps = 1e-5: the ratio is 1 up to eps/var.
        for layer in ("conv2", "conv3", "fc1"):
            assert ratios[layer] == pytest.approx(1.0, abs=1e-3), (stage, layer)


def test_spectra_statistics_are_consistent(spectra):
    assert spectra.layers == ("conv1", "conv2", "conv3", "fc1")
    for norm in spectra.norms:
        for stage in ("init", "trained"):
            st = spectra.stats(norm, stage)
            for layer in st:
                ev = spectra.eigenvalues[norm][stage][layer]
                assert np.all(np.diff(ev) <= 0) and ev[-1] >= 0  # descending, PSD
                centred = spectra.eigenvalues_centered[norm][stage][layer]
                # Removing the mean spike (a PSD rank-one term) can only lower the trace.
                assert centred.sum() <= ev.sum() * (1 + 1e-12)
            for layer in ("conv1", "conv2", "conv3"):
                # The channel powers are the diagonal-block traces: they add up to tr R.
                powers = spectra.block_powers[norm][stage][layer]
                assert powers.sum() == pytest.approx(st[layer]["trace"], rel=1e-10)
    # BatchNorm equalises the channel powers entering conv2 (Chai et al. 2020; tutorial 05): their
    # max/min ratio is smaller than without it.
    p_none = spectra.block_powers["none"]["init"]["conv2"]
    p_full = spectra.block_powers["full"]["init"]["conv2"]
    assert p_full.max() / p_full.min() < p_none.max() / p_none.min()
    assert "scale ratio" in spectra.summary()


def test_eigen_spectra_save_load_round_trip_bit_for_bit(spectra, tmp_path):
    back = EigenSpectra.load(spectra.save(tmp_path / "spec"))
    assert back.norms == spectra.norms and back.layers == spectra.layers
    assert back.params == spectra.params and back.diverged == spectra.diverged
    for name in ("eigenvalues", "eigenvalues_scaled", "eigenvalues_centered", "block_powers"):
        a, b = getattr(spectra, name), getattr(back, name)
        for norm in a:
            for stage in a[norm]:
                for layer in a[norm][stage]:
                    np.testing.assert_array_equal(a[norm][stage][layer], b[norm][stage][layer])
    for norm in spectra.train_loss:
        np.testing.assert_array_equal(spectra.train_loss[norm], back.train_loss[norm])


def test_eigen_spectra_records_a_diverged_training_run():
    res = eigen_spectra(norms=("none",), steps=5, lr=200.0, n_probe=32, max_rows=500, **TINY)
    assert res.diverged["none"]
    assert np.all(np.isnan(res.eigenvalues["none"]["trained"]["conv2"]))
    assert np.all(np.isfinite(res.eigenvalues["none"]["init"]["conv2"]))
    assert "diverged" in res.summary()


@pytest.mark.parametrize("kwargs, err, match", [
    ({"norms": "full"}, TypeError, "norms"),
    ({"norms": ("full", "bogus")}, ValueError, "norms entry"),
    ({"norms": ("full", "full")}, ValueError, "repeats"),
    ({"scale": -1.0}, ValueError, "scale"),
    ({"X": np.zeros((4, 3, 8, 8))}, ValueError, "both X and y"),
    ({"X": np.zeros((4, 3, 8, 8)), "y": np.zeros(3, int)}, ValueError, "y must be"),
    ({"steps": 0}, ValueError, "steps"),
])
def test_eigen_spectra_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        eigen_spectra(**kwargs)


@pytest.mark.skipif(not MNIST.exists(),
                    reason="the MNIST sample ../shared/data/mnist5k.npz is absent")
def test_scale_test_on_real_mnist():
    with np.load(MNIST) as d:
        # The central 16x16 crop keeps the test fast; the images stay float32 (preserved).
        X, y = d["images"][:96, 6:22, 6:22] / np.float32(255), d["labels"][:96]
    res = eigen_spectra(X=X, y=y, norms=("none", "full"), steps=2, n_probe=32, max_rows=1500,
                        widths=(4, 8, 8), batch_size=16)
    assert res.eigenvalues["none"]["init"]["conv1"].dtype == np.float32
    # float32 round-off (eps 1.2e-7, accumulated over sums of ~1e3 terms) sets the tolerance.
    assert res.scale_ratios("none")["conv3"] == pytest.approx(100.0, rel=1e-5)
    assert res.scale_ratios("full")["conv3"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.skipif(not MNIST.exists(),
                    reason="the MNIST sample ../shared/data/mnist5k.npz is absent")
def test_lr_sweep_runs_end_to_end_on_real_mnist():
    with np.load(MNIST) as d:
        X = d["images"][:256, None, 6:22, 6:22].astype(np.float64)
        y = d["labels"][:256].astype(np.int64)
    X = (X - X.mean()) / X.std()
    res = lr_sweep(X=X, y=y, norms=("none", "full"), lrs=(0.05, 30.0), quick=True, rng=0)
    assert res.final_loss.shape == (2, 2, 1) and not res.errors.any()
    # lr 0.05 is stable for both; lr 30 is far past the plain net's stability (it blows up in
    # a step or two), while BatchNorm's scale invariance keeps the normalised net finite.
    assert not res.diverged[:, 0].any()
    assert res.diverged[res.index("none"), 1].all() and not res.diverged[res.index("full"), 1].any()
    assert np.isfinite(res.layer_lambda_max).all()


# ----------------------------------------------------------------------------------- lr_sweep
def test_sweep_records_divergence_for_none_at_a_large_lr_but_not_for_full(sweep):
    i_none, i_full = sweep.index("none"), sweep.index("full")
    assert sweep.diverged[i_none, 1].all() and np.all(sweep.diverged_at[i_none, 1] >= 0)
    assert "exceeded" in sweep.reason[i_none, 1, 0] or "non-finite" in sweep.reason[i_none, 1, 0]
    assert np.all(sweep.final_loss[i_none, 1] == np.inf)
    assert not sweep.diverged[i_full].any() and np.all(np.isfinite(sweep.final_loss[i_full]))
    assert sweep.divergence_lr[i_none] == 30.0 and np.isnan(sweep.divergence_lr[i_full])
    assert sweep.max_stable_lr[i_full] == 30.0
    assert np.all(sweep.errors == "")
    # Loss curves are NaN-padded after the divergence step, complete otherwise.
    step = sweep.diverged_at[i_none, 1, 0]
    assert np.all(np.isnan(sweep.loss_curves[i_none, 1, 0, step + 1:]))
    assert np.all(np.isfinite(sweep.loss_curves[i_full, 1, 0]))


def test_predicted_bound_is_the_gauss_newton_bound_and_lms_bound_the_unit_gain_one(sweep):
    assert sweep.layer_lambda_max.shape == (2, len(sweep.bound_layers))
    np.testing.assert_allclose(sweep.lms_bound, 2 / sweep.layer_lambda_max.max(axis=1),
                               rtol=1e-12)
    # Without BatchNorm the deeper layers' inputs are un-normalised: a larger lambda_max(R).
    assert sweep.lms_bound[sweep.index("none")] < sweep.lms_bound[sweep.index("full")]
    assert sweep.gn_lambda_max.shape == (2,) and np.all(sweep.gn_lambda_max > 0)
    np.testing.assert_array_equal(sweep.predicted_bound, 2 / sweep.gn_lambda_max)
    # In the units of lr the bound sits well above the raw R bound: measured 6.7x (none) and
    # 53x (full) here -- the gain the network puts on each layer's error.
    assert np.all(sweep.predicted_bound > 3 * sweep.lms_bound)
    text = sweep.summary()
    assert "2/lambda_max(G)" in text and "unit-gain LMS" in text and "raw LMS step units" in text


def test_sweep_is_the_same_on_a_thread_pool():
    from concurrent.futures import ThreadPoolExecutor
    kw = dict(quick=True, lrs=(0.3,), norms=("full",), seeds=(0, 1), steps=4, n_train=64, n_eval=16)
    with ThreadPoolExecutor(2) as pool:
        pooled = lr_sweep(executor=pool, **kw)
    serial = lr_sweep(**kw)
    np.testing.assert_array_equal(serial.loss_curves, pooled.loss_curves)


def test_lr_sweep_save_load_round_trip_bit_for_bit(sweep, tmp_path):
    back = LRSweep.load(sweep.save(tmp_path / "sweep"))
    for name in ("lrs", "seeds", "final_loss", "steps_to_target", "diverged", "diverged_at",
                 "reason", "eval_accuracy", "loss_curves", "errors", "layer_lambda_max"):
        np.testing.assert_array_equal(getattr(sweep, name), getattr(back, name))
    assert back.norms == sweep.norms and back.bound_layers == sweep.bound_layers
    assert back.summary() == sweep.summary()


def _synthetic(loss, diverged, steps=None):
    """An LRSweep over norms none, full, amplify, suppress at lrs 0.01, 0.1, 1, 10 (one seed).

    ``loss`` and ``diverged`` are (4, 4); ``steps`` (4, 4) are the steps to the target loss
    (-1 = never reached, which the speed half counts as the budget of 100 steps).
    """
    loss, diverged = np.asarray(loss, float)[..., None], np.asarray(diverged, bool)[..., None]
    shape = loss.shape
    steps = np.full(shape, -1) if steps is None else np.asarray(steps)[..., None]
    return LRSweep(("none", "full", "amplify", "suppress"), np.logspace(-2, 1, 4), np.array([0]),
                   np.where(diverged, np.inf, loss), steps, diverged,
                   np.where(diverged, 3, -1), np.full(shape, ""), np.full(shape, 0.5),
                   np.zeros((*shape, 2)), np.full(shape, ""), ("conv1",), np.ones((4, 1)),
                   {"steps": 100, "batch_size": 2, "target_loss": 1.5, "n_classes": 10,
                    "learn_margin": 0.2})


# rows: none, full, amplify, suppress; columns: lr 0.01, 0.1, 1, 10. Chance is ln 10 = 2.30, so
# a run learns below 2.10.
CLAIM_LOSS = [[2.2, 1.9, 1.5, 2.3], [2.0, 1.0, 0.8, 0.9], [2.0, 1.1, 9, 9], [2.2, 1.8, 0.9, 1.0]]
CLAIM_DIV = [[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]]
CLAIM_STEPS = [[-1, 80, 40, -1], [60, 20, 10, 10], [62, 25, -1, -1], [-1, 75, 12, 12]]


def test_verdict_agrees_when_the_numbers_follow_the_claim():
    # Low lrs: amplify reaches the target nearly as soon as full, suppress about as late as
    # none; high lrs: full and suppress still learn, amplify diverges and none stops learning.
    res = _synthetic(CLAIM_LOSS, CLAIM_DIV, CLAIM_STEPS)
    sep = res.separation
    assert sep["speed_lrs"] == pytest.approx([0.01, 0.1])
    # lr 0.01: none 100 (budget), full 60, amplify 62, suppress 100; lr 0.1: 80, 20, 25, 75.
    assert sep["recovery_per_lr"]["amplify"] == pytest.approx([38 / 40, 55 / 60])
    assert sep["recovery_per_lr"]["suppress"] == pytest.approx([0.0, 5 / 60])
    assert sep["max_learning_lr"] == {"none": [1.0], "full": [10.0], "amplify": [0.1],
                                      "suppress": [10.0]}
    assert sep["separating_lrs"] == pytest.approx([1.0, 10.0])
    assert res._judge() == {"speed": True, "stability": True}
    assert res.verdict().count("as claim (2) predicts") == 2
    assert "speed" in res.headline and "stability" in res.headline
    assert res.headline.count("-> agrees") == 2


def test_finite_is_not_stable_a_run_must_learn():
    # full and suppress stay finite at lr 10 but sit at the chance loss: they do not learn
    # there, so the stability half must not count lr 10 for them.
    loss = [row[:] for row in CLAIM_LOSS]
    loss[1][3], loss[3][3] = 2.41, 2.52
    res = _synthetic(loss, CLAIM_DIV, CLAIM_STEPS)
    assert res.max_stable_lr[res.index("suppress")] == 10.0  # finite ...
    assert res.separation["max_learning_lr"]["suppress"] == [1.0]  # ... but learning only to 1
    assert res.separation["finite_not_learning"]["full"] == [10.0]
    assert "Finite without learning at" in res.verdict()
    # Both limits are now lr 1, where none learns too (1.5): none does not stop below suppress,
    # so the stability half disagrees; once none stops learning at 1 it agrees again.
    assert res._judge()["stability"] is False
    loss[0][2] = 2.2
    assert _synthetic(loss, CLAIM_DIV, CLAIM_STEPS)._judge()["stability"] is True


def test_lr_sweep_map_marks_where_each_norm_still_learns():
    plt = pytest.importorskip("matplotlib.pyplot")
    from lmsbn.plot import plot_lr_sweep

    res = _synthetic(CLAIM_LOSS, CLAIM_DIV, CLAIM_STEPS)
    ax = plot_lr_sweep(res)
    by_label = {line.get_label(): line for line in ax.get_lines()}
    marks = by_label["largest lr that learns (seed median)"]
    assert marks.get_xdata().tolist() == pytest.approx([1.0])  # none's; the others are _nolegend_
    xs = [x for line in ax.get_lines() if line.get_marker() == "^" for x in line.get_xdata()]
    assert xs == pytest.approx([1.0, 10.0, 0.1, 10.0])
    assert "speed" in ax.get_title() and "stability" in ax.get_title()
    plt.close(ax.figure)


def test_verdict_judges_most_of_the_gain_lr_by_lr():
    # Amplify recovers 95 % of full's step gain at lr 0.01 and 8 % at lr 0.1: about half on
    # average, but not "most of it" at every low lr, so the verdict must not call it agreement.
    steps = [r[:] for r in CLAIM_STEPS]
    steps[2][1] = 75
    res = _synthetic(CLAIM_LOSS, CLAIM_DIV, steps)
    assert res.separation["recovery"]["amplify"] == pytest.approx((38 / 40 + 5 / 60) / 2)
    assert "most of it at 1 of 2 low lrs and suppress at 0 of 2" in res.verdict()
    assert res._judge()["speed"] is False and "speed" in res.headline


def test_verdict_reports_the_opposite_when_the_numbers_say_so():
    steps = [r[:] for r in CLAIM_STEPS]
    steps[2], steps[3] = CLAIM_STEPS[3][:], CLAIM_STEPS[2][:]
    loss = [CLAIM_LOSS[0], CLAIM_LOSS[1], CLAIM_LOSS[3], CLAIM_LOSS[2]]
    div = [CLAIM_DIV[0], CLAIM_DIV[1], CLAIM_DIV[3], CLAIM_DIV[2]]
    res = _synthetic(loss, div, steps)
    assert "opposite of claim (2)" in res.verdict()
    assert res._judge() == {"speed": False, "stability": False}
    assert 1.0 not in res.separation["separating_lrs"]  # amplify now learns at the high lrs
    assert res.headline.count("-> disagrees") == 2


def test_verdict_says_untestable_without_a_gap_or_without_the_variants():
    flat = _synthetic(np.full((4, 4), 2.3), np.zeros((4, 4)))
    assert "cannot be tested" in flat.verdict() and "untestable" in flat.verdict()
    assert flat._judge() == {"speed": None, "stability": None}
    per_norm = ("final_loss", "steps_to_target", "diverged", "diverged_at", "reason",
                "eval_accuracy", "loss_curves", "errors")
    partial = LRSweep(("none", "full"), flat.lrs, flat.seeds,
                      *(getattr(flat, k)[:2] for k in per_norm), ("conv1",), np.ones((2, 1)), {})
    assert "needs the norms" in partial.verdict() and "needs the norms" in partial.headline


# ----------------------------------------------------------------------- variant isolation
@pytest.mark.parametrize("mode", ["amplify", "suppress"])
def test_variants_rescale_only_their_side_of_the_next_layers_regressors(mode):
    # By construction: with the same filters, the amplify (suppress) network's conv2 regressors
    # are the center network's with the columns of channels weaker (stronger) than the median
    # multiplied by sigma_ref / sigma_c, and every other column untouched (ReLU and max-pooling
    # are positively homogeneous per channel). Exact up to round-off of a few operations.
    from lmsbn.bridge import capture_regressors
    from lmsbn.data import shapes
    from lmsbn.nn import small_cnn

    X, y = shapes(32, rng=1)
    U, pre = {}, {}
    for norm in ("center", mode):
        model = small_cnn(3, 10, (8, 16, 16), norm, rng=7)
        model.register_forward_hook(lambda n, layer, x, out: pre.setdefault(n, x) if n == "bn1"
                                    else None)
        U[norm] = capture_regressors(model, X, max_rows=10**6, layers=["conv2"])["conv2"]
    sigma = np.sqrt(pre["bn1"].var(axis=(0, 2, 3)) + 1e-5)
    ref = np.median(sigma)
    clip = np.minimum if mode == "amplify" else np.maximum
    d = ref / clip(sigma, ref)
    touched = sigma < ref if mode == "amplify" else sigma > ref
    assert touched.sum() == 4 and np.all((d > 1) == touched if mode == "amplify"
                                         else (d < 1) == touched)
    np.testing.assert_allclose(U[mode], U["center"] * np.repeat(d, 9), rtol=1e-12, atol=1e-13)


@pytest.fixture(scope="module")
def isolation():
    return variant_isolation(seeds=(0,), steps=50, lr=0.03, widths=(8, 16, 16), n_train=1000)


def test_variant_isolation_on_procedural_data(isolation):
    # Each variant moves its own end of the next layers' spectrum more than the other end, in
    # the direction it is named for, at initialisation and after 50 steps at lr 0.03. Measured
    # (seed 0): amplify lambda_min x1.15-1.56 with lambda_max x1.04-1.31; suppress lambda_max
    # x0.60-0.84 with lambda_min x0.74-0.97. The 2x / 10 % targets are not met (the channels'
    # spread around their median leaves a headroom of only about 2x; see the module docstring).
    assert isolation.layers == ("conv2", "conv3")
    f = isolation.factors
    amp_min, amp_max = f["amplify"]["lambda_min"], f["amplify"]["lambda_max"]
    sup_min, sup_max = f["suppress"]["lambda_min"], f["suppress"]["lambda_max"]
    assert np.all(amp_min > 1) and np.all(np.log(amp_min) > np.log(amp_max))
    assert np.all(sup_max < 1) and np.all(np.log(sup_max) < np.log(sup_min))
    # Courant-Fischer: for the first layer after a norm at initialisation R_v = D R_center D,
    # so the factor cannot exceed the squared headroom (exactly; 1e-9 for the eigensolvers).
    room = isolation.headroom
    assert amp_min[0, 0, 0] <= room["amplify"][0, 0, 0] * (1 + 1e-9)
    assert 1 / sup_max[0, 0, 0] <= room["suppress"][0, 0, 0] * (1 + 1e-9)
    for v in ("amplify", "suppress"):
        assert set(isolation.status(v).ravel()) <= {"pass", "fail", "no room"}
    assert "amplify:" in isolation.verdict() and "conv3" in isolation.summary()


def _assert_rescaled_is_the_variants_r_at_conv2_init(res):
    # At initialisation conv2's R in the amplify (suppress) network IS D R_center D, so the
    # factors computed from the center network alone equal the measured ones (eigensolver
    # round-off only, hence 1e-9) -- the diagnosis of the verdict is the measurement there.
    f = res.factors
    measured = [f[v][e][0, 0, 0] for v in ("amplify", "suppress")
                for e in ("lambda_min", "lambda_max")]
    np.testing.assert_allclose(measured, res.rescaled[0, 0, 0, :4], rtol=1e-9)
    assert np.all((res.rescaled[..., 4:] >= 0) & (res.rescaled[..., 4:] <= 1 + 1e-12))


def test_rescaled_factor_of_a_singular_r_is_nan_without_a_warning():
    import warnings

    from lmsbn.experiments.chai.isolation import _rescaled
    from lmsbn.spectral import Spectrum

    # Two channels of 2 taps each; the second channel is dead (all-zero regressors), so R is
    # singular and lambda_min = 0: its factor is undefined and must be NaN, not inf plus a
    # RuntimeWarning. lambda_max's factor stays a number.
    U = np.random.default_rng(0).standard_normal((50, 4))
    U[:, 2:] = 0.0
    spec = Spectrum.from_regressors(U)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rs = _rescaled(spec, np.array([1.0, 0.5]), 0.75)
    assert spec.lambda_min == 0          # Spectrum clips round-off below zero
    assert np.isnan(rs[0]) and np.isnan(rs[2]) and np.isfinite(rs[1]) and np.isfinite(rs[3])


def test_variant_isolation_verdict_is_the_measured_miss(isolation):
    # The verdict is computed from the factors: measured on seed 0 no layer-stage meets both
    # targets, so it must say NOT isolated and count per target; if a future design isolates,
    # this assertion fails and the verdict with it says "isolated".
    _assert_rescaled_is_the_variants_r_at_conv2_init(isolation)
    st = np.stack([isolation.status(v) for v in ("amplify", "suppress")])
    judged, passed = np.isin(st, ("pass", "fail")), st == "pass"
    assert isolation.isolated == bool(judged.any() and passed[judged].all())
    assert not isolation.isolated and "NOT isolated" in isolation.verdict()
    for v in ("amplify", "suppress"):
        met = isolation.targets(v)
        assert np.array_equal(isolation.status(v) == "pass", met["own"] & met["hold"])
    assert isolation.verdict().count("already moves") == 2  # the why, for each variant


@pytest.mark.skipif(not MNIST.exists(),
                    reason="the MNIST sample ../shared/data/mnist5k.npz is absent")
def test_variant_isolation_on_mnist_stays_under_the_headroom():
    # On MNIST the isolation is weaker than on the procedural data (measured over seeds 0-2:
    # amplify's lambda_max sometimes moves more than its lambda_min, because conv1's channels
    # are all functions of one 3x3 pixel patch and the smallest eigenvalues of conv2's R are
    # near-collinear mixtures of every channel). What holds exactly is the ceiling: at
    # initialisation conv2's R is D R_center D, so no factor exceeds the squared headroom.
    from lmsbn.data import load_npz

    X, y = load_npz(MNIST, normalize=True)
    res = variant_isolation(X=X[:300], y=y[:300], seeds=(0,), steps=5, n_probe=128)
    f, room = res.factors, res.headroom
    assert f["amplify"]["lambda_min"][0, 0, 0] <= room["amplify"][0, 0, 0] * (1 + 1e-9)
    assert 1 / f["suppress"]["lambda_max"][0, 0, 0] <= room["suppress"][0, 0, 0] * (1 + 1e-9)
    # amplify only raises (D >= I) and suppress only lowers (D <= I) every eigenvalue of it.
    assert (f["amplify"]["lambda_min"][0, 0, 0] >= 1 - 1e-9
            >= f["suppress"]["lambda_max"][0, 0, 0] - 2e-9)
    _assert_rescaled_is_the_variants_r_at_conv2_init(res)


def test_variant_isolation_save_load(isolation, tmp_path):
    back = VariantIsolation.load(isolation.save(tmp_path / "iso"))
    for k in ("seeds", "lambda_min", "lambda_max", "spread", "rescaled"):
        np.testing.assert_array_equal(getattr(back, k), getattr(isolation, k))
    assert back.summary() == isolation.summary()


def test_isolation_status_reads_the_targets():
    # One seed, one stage pair, three layers: amplify passes, fails on lambda_max, has no room.
    lmin = np.array([[[[1.0, 1.0, 1.0]] * 2], [[[2.5, 2.5, 1.5]] * 2], [[[1.05, 1.0, 1.0]] * 2]])
    lmax = np.array([[[[10.0, 10.0, 10.0]] * 2], [[[10.5, 12.0, 10.0]] * 2],
                     [[[4.0, 10.0, 10.0]] * 2]])
    spread = np.array([[[[0.5, 3.0], [0.5, 1.2], [0.8, 1.2]]] * 2])  # headroom 4, 4, 1.56
    res = VariantIsolation(("a", "b", "c"), np.array([0]), lmin, lmax, spread)
    assert res.status("amplify")[0, 0].tolist() == ["pass", "fail", "no room"]
    # suppress: lambda_max /2.5 with lambda_min +5 % passes; unchanged lambda_max fails or has no
    # room.
    assert res.status("suppress")[0, 0].tolist() == ["pass", "no room", "no room"]
    with pytest.raises(ValueError, match="variant"):
        res.status("center")
    assert not res.isolated and "relative to center: NOT isolated" in res.verdict()
    assert res.targets("amplify")["own"][0, 0].tolist() == [True, True, False]
    assert res.targets("amplify")["hold"][0, 0].tolist() == [True, False, True]
    # Every layer-stage with room passing makes the verdict "isolated"; "no room" is not counted.
    good = VariantIsolation(("a", "b"), np.array([0]), lmin[..., :2], np.stack(
        [lmax[0, ..., :2], lmax[0, ..., :2] * 1.05, lmax[0, ..., :2] / 2.5]), spread[..., :2, :])
    good.lambda_min[1] = lmin[0, ..., :2] * 2.5
    assert good.isolated and "center: isolated" in good.verdict()
    # Nothing with room: no verdict either way.
    good.spread[...] = [0.9, 1.1]
    good.lambda_min[1], good.lambda_max[2] = lmin[0, ..., :2], lmax[0, ..., :2]
    assert not good.isolated and "not measurable" in good.verdict()


def test_lr_sweep_carries_the_isolation_numbers(tmp_path):
    res = lr_sweep(quick=True, norms=("center", "amplify", "suppress"), lrs=(0.1,), steps=3,
                   n_train=64, n_eval=16)
    assert res.isolation is not None and res.isolation.layers == ("conv2", "conv3")
    assert "variant isolation" in res.summary()
    back = LRSweep.load(res.save(tmp_path / "sweep"))
    np.testing.assert_array_equal(back.isolation.lambda_min, res.isolation.lambda_min)
    assert back.summary() == res.summary()
    assert lr_sweep(quick=True, norms=("center", "full"), lrs=(0.1,), steps=2, n_train=32,
                    n_eval=8).isolation is None


@pytest.mark.parametrize("kwargs, err, match", [
    ({"lrs": (0.1, -1.0)}, ValueError, "lrs"),
    ({"lrs": (0.1, 0.1)}, ValueError, "distinct"),
    ({"norms": ("full", "nope")}, ValueError, "norms entry"),
    ({"seeds": (0, 0)}, ValueError, "seeds"),
    ({"seeds": ()}, ValueError, "seeds"),
    ({"target_loss": 0.0}, ValueError, "target_loss"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    ({"X": np.zeros((4, 1, 8, 8)), "y": np.zeros(4, int)}, ValueError, "n_eval"),
])
def test_lr_sweep_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        lr_sweep(quick=True, **kwargs)


# --------------------------------------------------------------------------------- first_step
@pytest.mark.skipif(not MNIST.exists(),
                    reason="the MNIST sample ../shared/data/mnist5k.npz is absent")
def test_first_step_on_float32_mnist_is_computed_in_float64():
    with np.load(MNIST) as d:
        X, y = d["images"][:64, 6:22, 6:22] / np.float32(255), d["labels"][:64]
    res = first_step(X=X, y=y, steps=2, every=1, widths=(4, 8, 8), batch_size=32)
    # In float32 the O(probe_lr) output change is lost in round-off (errors of order 1 were
    # measured); in float64 BatchNorm's first-order prediction holds to O(probe_lr).
    for name, c in res.report.layers.items():
        assert c.rho.dtype == np.float64
        # Measured ~1.5e-5 (O(probe_lr) = 1e-4); 1e-3 leaves margin for other data subsets.
        assert np.median(c.bn_error) < 1e-3, name


def test_float32_procedural_data_first_step_in_float64_and_spectra_in_float32():
    # The same two dtype rules as the MNIST tests above, on data CI always has: first_step
    # promotes float32 input to float64 (its O(probe_lr) output change would drown in float32
    # round-off), while eigen_spectra keeps float32.
    from lmsbn.data import shapes

    X, y = shapes(64, rng=3)
    X = X.astype(np.float32)
    res = first_step(X=X, y=y, steps=2, every=1, widths=(4, 8, 8), batch_size=32)
    for name, c in res.report.layers.items():
        assert c.rho.dtype == np.float64
        # float64 gives O(probe_lr) = 1e-4 errors; float32 gave errors of order 1 on MNIST.
        assert np.median(c.bn_error) < 1e-3, name
    spec = eigen_spectra(X=X, y=y, norms=("none",), steps=1, n_probe=16, max_rows=500,
                         widths=(4, 8, 8), batch_size=16)
    assert spec.eigenvalues["none"]["init"]["conv1"].dtype == np.float32


def test_first_step_batchnorm_prediction_is_first_order_accurate(first):
    assert set(first.report.layers) == {"conv1", "conv2", "conv3"}
    for name, c in first.report.layers.items():
        # probe_lr = 1e-4: BatchNorm's own first-order prediction is off by O(lr) only.
        assert np.median(c.bn_error) < 1e-3, name
        # Fact 2 (scale invariance): w . dL/dw = 0 up to eps / sigma^2.
        assert np.max(c.scale_invariance) < 1e-4, name
        # The ratio is 1/rho by construction (tutorial 07, fact 4; bridge.rho), up to eps.
        np.testing.assert_allclose(c.ratio * c.rho, 1.0, rtol=1e-3)


def test_first_step_drift_records(first):
    assert set(first.drift) == {"conv1", "conv2", "conv3"}
    for name, d in first.drift.items():
        T, F = d["ratio"].shape
        np.testing.assert_array_equal(first.steps[name], np.arange(0, 12, 4))
        assert T == 3 and F == first.report.layers[name].rho.size
        q = first.quartiles(name, "rho")
        assert q.shape == (T, 3) and np.all(q[:, 0] <= q[:, 1]) and np.all(q[:, 1] <= q[:, 2])
        assert np.all(d["w_norm"] > 0)
    verdict = first.verdict()
    assert "first step" in verdict and "after 8 steps" in verdict
    with pytest.raises(ValueError, match="quantity"):
        first.quartiles("conv1", "nonsense")


def test_first_step_verdict_separates_exact_average_and_drift(first):
    verdict = first.verdict()
    for name, c in first.report.layers.items():
        # The spread it reports is the one rho_spread predicts for this layer's C.
        assert f"against {c.rho_sd[0]:.3f} predicted" in verdict
        assert f"mean rho {np.mean(c.rho):.3f}" in verdict
        direction = first.drift_direction(name)
        start, end = (np.median(np.abs(first.drift[name]["ratio"][i] - 1)) for i in (0, -1))
        assert direction == ("away" if end > max(1.5 * start, 0.1) else
                             "closer" if end < start / 1.5 else "steady")
        assert f"drift {direction}" in verdict
    assert "exact per filter" in verdict and "on average over initialisation" in verdict
    assert "drift after the first step:" in verdict


def test_first_step_save_load_round_trip_bit_for_bit(first, tmp_path):
    back = FirstStep.load(first.save(tmp_path / "first"))
    np.testing.assert_array_equal(first.loss, back.loss)
    for name, c in first.report.layers.items():
        b = back.report.layers[name]
        assert (b.K, b.trace_C, b.bn_layer) == (c.K, c.trace_C, c.bn_layer)
        for key in ("ratio", "rho", "bn_error", "nlms_error", "scale_invariance", "w_norm"):
            np.testing.assert_array_equal(getattr(c, key), getattr(b, key))
        for key, arr in first.drift[name].items():
            np.testing.assert_array_equal(arr, back.drift[name][key])
        np.testing.assert_array_equal(first.steps[name], back.steps[name])
    assert back.summary() == first.summary()


def test_load_refuses_a_file_of_another_kind(first, tmp_path):
    path = first.save(tmp_path / "first")
    with pytest.raises(ValueError, match="chai.first_step.FirstStep"):
        LRSweep.load(path)


@pytest.mark.parametrize("kwargs, err, match", [
    ({"lr": 0.0}, ValueError, "lr"), ({"probe_lr": -1.0}, ValueError, "probe_lr"),
    ({"every": 0}, ValueError, "every"), ({"widths": ()}, TypeError, "widths"),
    ({"rng": "seed"}, TypeError, "rng"),
])
def test_first_step_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        first_step(**kwargs)


def test_layer_lambda_max_is_each_layers_largest_eigenvalue_at_initialisation():
    # Recompute independently: the sweep's first-seed initialisation (documented in
    # _initial_lambda_max), each layer's regressors through a forward hook, and eigvalsh of
    # U^T U / M. 16 training images of 8x8 give fewer rows than max_rows, so no subsampling: the
    # two computations see the same rows and differ only by eigensolver round-off.
    from lmsbn.bridge import regressors
    from lmsbn.data import shapes
    from lmsbn.nn import small_cnn

    X, y = shapes(24, size=8, rng=5)
    res = lr_sweep(X=X, y=y, norms=("none",), lrs=(0.1,), seeds=(0,), steps=2, n_eval=8,
                   quick=True, rng=0)
    init = np.random.SeedSequence(0).spawn(2)[0]
    model = small_cnn(3, int(y.max()) + 1, tuple(res.params["widths"]), "none",
                      rng=np.random.default_rng(init))
    inputs = {}
    model.register_forward_hook(lambda name, layer, inp, out: inputs.setdefault(name, (layer, inp)))
    model.forward(X[:16], train=True)
    expected = []
    for name in res.bound_layers:
        U = regressors(*inputs[name])
        expected.append(np.linalg.eigvalsh(U.T @ U / U.shape[0])[-1])
    np.testing.assert_allclose(res.layer_lambda_max[0], expected, rtol=1e-10)


# ----------------------------------------------------------------- the tour's two plain experiments
def test_equalizer_speed_times_each_curve_and_judges_the_order():
    from lmsbn.experiments.chai import EqualizerSpeed, equalizer_speed

    res = equalizer_speed((2.9, 3.5), runs=20, n=300, rng=0)
    assert np.all(np.diff(res.spread) > 0)  # a larger W gives a larger eigenvalue spread
    assert res.samples_to_target.shape == (2,) and set(res.curves) == {"2.9", "3.5"}
    # The same seed gives the same bits; a Generator is accepted too.
    again = equalizer_speed((2.9, 3.5), runs=20, n=300, rng=0)
    assert np.array_equal(res.curves["3.5"].mse, again.curves["3.5"].mse)
    equalizer_speed((2.9,), runs=2, n=50, rng=np.random.default_rng(1))
    # The verdict is computed: the same numbers in the other order give "no".
    fast_first = EqualizerSpeed(np.array([1.0, 2.0]), np.array([5.0, 50.0]), np.array([100, 400]),
                                {}, {"target": 0.1})
    slow_first = EqualizerSpeed(np.array([1.0, 2.0]), np.array([5.0, 50.0]), np.array([400, 100]),
                                {}, {"target": 0.1})
    never = EqualizerSpeed(np.array([1.0, 2.0]), np.array([5.0, 50.0]), np.array([-1, 100]),
                           {}, {"target": 0.1})
    assert fast_first.verdict().startswith("yes")
    assert slow_first.verdict().startswith("no") and never.verdict().startswith("no")
    with pytest.raises(ValueError, match="mu"):
        equalizer_speed((2.9,), mu=-1.0)


def test_train_comparison_starts_every_run_from_the_same_weights():
    from lmsbn.experiments.chai import train_comparison

    res = train_comparison(norms=("none", "full"), lrs=(0.01, 0.5), steps=3, n=120, rng=0)
    assert set(res.loss) == {"none@0.01", "none@0.5", "full@0.01", "full@0.5"}
    for norm in res.norms:
        # Same weights and same first minibatch: the step-0 losses agree whatever the lr.
        assert res.loss[f"{norm}@0.01"][0] == res.loss[f"{norm}@0.5"][0]
    assert "lr 0.01" in res.summary()
    with pytest.raises(ValueError, match="norms"):
        train_comparison(norms=("none", "none"), steps=1, n=20)
