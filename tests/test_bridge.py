"""The bridge: conv layers as adaptive filters, their spectra and modes, BatchNorm versus NLMS."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsbn.bridge import (
    ModeTracker,
    bn_nlms_quantities,
    capture_regressors,
    compare_first_step,
    layer_case,
    layer_spectra,
    regressors,
    rho,
    rho_spread,
)
from lmsbn.data import shapes
from lmsbn.filters import BlockLMS
from lmsbn.filters.signals import tapped_delay_line
from lmsbn.nn import (
    SGD,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Flatten,
    Linear,
    ReLU,
    Sequential,
    small_cnn,
)
from lmsbn.nn import functional as F
from lmsbn.spectral import Spectrum, mode_coordinates, predicted_modes
from lmsbn.train import train

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist5k.npz"


@pytest.fixture(scope="module")
def batch():
    return shapes(64, rng=0)


# ----------------------------------------------------------------------- Conv1d == block LMS
def test_conv1d_sgd_is_block_lms_step_by_step():
    rng = np.random.default_rng(0)
    K, L, blocks = 5, 8, 12
    x = rng.normal(size=L * blocks + K - 1)
    d_full = np.convolve(x, [0.5, -0.3, 0.2, 0.1, -0.05])[: x.size] + 0.01 * rng.normal(size=x.size)
    w0 = rng.normal(size=K)
    mu = 0.05

    # The classical side: block LMS on the tapped delay line u(n) = [x(n), ..., x(n-K+1)],
    # starting at n = K-1, where the delay line no longer holds the zero initial state.
    U = tapped_delay_line(x, K)[K - 1:]
    d = d_full[K - 1:]
    result = BlockLMS(K, mu, block=L, w0=w0).run(U, d)

    # The network side: a 1-channel Conv1d, no padding, trained by SGD on mse_loss, one block of
    # L outputs per step. The conv is a cross-correlation, whose window lists the oldest sample
    # first, so its kernel is the filter reversed.
    conv = Conv1d(1, 1, K, bias=False, rng=0)
    conv.params["weight"][0, 0] = w0[::-1]
    net = Sequential(conv)
    opt = SGD(net.named_parameters(), lr=mu)
    for b in range(blocks):
        seg = x[b * L: b * L + L + K - 1][None, None, :]
        out = net.forward(seg)
        _, dout = F.mse_loss(out, d[b * L: (b + 1) * L][None, None, :])
        net.backward(dout)
        opt.step()
        # w_history[n] holds the weights used at sample n, so the weights after block b are
        # those used at the first sample of block b + 1.
        w_filter = result.w_history[(b + 1) * L]
        # Same arithmetic in a different summation order: agreement to a few ulps of |w| ~ 1.
        np.testing.assert_allclose(conv.params["weight"][0, 0, ::-1], w_filter, rtol=0, atol=1e-13)


# ----------------------------------------------------------------------- regressors & spectra
def test_capture_regressors_shapes_seeding_and_no_side_effects(batch):
    X, _ = batch
    model = small_cnn(rng=0)
    model.forward(X)  # give the running statistics non-initial values
    state = model["bn2"].state
    before = state.running_var.copy()
    caps = capture_regressors(model, X, max_rows=1000, rng=3)
    assert model["bn2"].state is state and np.array_equal(state.running_var, before)
    assert set(caps) == {"conv1", "conv2", "conv3", "fc1"}
    assert caps["conv1"].shape == (1000, 27)
    assert caps["conv2"].shape == (1000, 144)    # 64 * 8 * 8 = 4096 rows, subsampled
    assert caps["fc1"].shape == (64, 32)         # fewer rows than max_rows: all kept
    assert np.array_equal(model["bn2"].state.running_var, before)
    again = capture_regressors(model, X, max_rows=1000, rng=3)
    assert np.array_equal(caps["conv2"], again["conv2"])
    with pytest.raises(ValueError, match="layers entry 'bn1' is not a conv or linear layer"):
        capture_regressors(model, X, layers=["bn1"])


def test_first_layer_regressors_are_im2col_of_the_input(batch):
    X, _ = batch
    model = small_cnn(rng=0)
    U = capture_regressors(model, X, max_rows=10**6)["conv1"]
    assert np.array_equal(U, F.im2col2d(X, 3, 3, pad=1))
    spec = layer_spectra(model, X, max_rows=10**6)["conv1"]
    # The core's Spectrum of the same regressors, whatever produced them.
    assert np.allclose(spec.eigenvalues, Spectrum.from_regressors(U).eigenvalues, rtol=1e-12)


def test_batchnorm_bounds_the_next_layers_input_power_whatever_the_input_scale():
    rng = np.random.default_rng(0)
    X, _ = shapes(64, rng=1)

    def net(norm):
        layers = [Conv2d(3, 6, 3, padding=1, bias=False, rng=rng.integers(1 << 30))]
        layers += [BatchNorm2d(6)] if norm else []
        return Sequential(*layers, ReLU(), Conv2d(6, 4, 3, padding=1, rng=0))

    # Share of the (row, tap) entries of conv2's patches that fall in the zero padding.
    inside = F.im2col2d(np.ones((1, 6, 16, 16)), 3, 3, pad=1).mean()
    bn, plain = net(True), net(False)
    tr_bn = [layer_spectra(bn, s * X, layers=["conv2"], max_rows=10**6)["conv2"].trace
             for s in (1.0, 10.0)]
    tr_plain = [layer_spectra(plain, s * X, layers=["conv2"], max_rows=10**6)["conv2"].trace
                for s in (1.0, 10.0)]
    expected = 0.5 * 6 * 9 * inside
    # After BatchNorm each channel has mean 0 and variance 1 over the batch, so E[relu(z)^2] is
    # 1/2 for a symmetric distribution; real conv outputs are somewhat skewed, hence 15%.
    assert abs(tr_bn[0] / expected - 1) < 0.15
    # BatchNorm removes the input scale (up to eps = 1e-5 against variances ~1 and ~100).
    assert abs(tr_bn[1] / tr_bn[0] - 1) < 1e-4
    # Without it conv1 (no bias) and ReLU are positively homogeneous: the power scales by 100.
    assert abs(tr_plain[1] / tr_plain[0] - 100) < 1e-8


# ----------------------------------------------------------------------- rho and BN vs NLMS
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.floats(0.01, 100), st.integers(0, 2**31))
def test_rho_is_one_for_white_input(K, F_, c, seed):
    W = np.random.default_rng(seed).normal(size=(F_, K))
    r = rho(W, c * np.eye(K))
    np.testing.assert_allclose(r, 1.0, rtol=1e-12)
    q = bn_nlms_quantities(W, c * np.eye(K), np.ones(F_), 0.1, eps=0.0)
    np.testing.assert_allclose(q["ratio"], 1.0, rtol=1e-12)


def test_rho_has_mean_one_for_isotropic_random_filters():
    rng = np.random.default_rng(0)
    K, n = 27, 20000
    A = rng.normal(size=(K, K)) * np.linspace(0.2, 3, K)
    C = A @ A.T / K                                 # a fixed, strongly coloured covariance
    r = rho(rng.normal(size=(n, K)), C)
    lam = np.linalg.eigvalsh(C)
    # For Gaussian w, w^T C w / ||w||^2 = sum_k lam_k beta_k with beta ~ Dirichlet(1/2, ..., 1/2),
    # whose variance gives Var(rho) = 2 (K sum lam^2 / (sum lam)^2 - 1) / (K + 2).
    var = 2 * (K * np.sum(lam**2) / np.sum(lam) ** 2 - 1) / (K + 2)
    assert abs(r.mean() - 1) < 5 * np.sqrt(var / n)
    # The variance formula itself: a sample variance of n draws has relative standard error
    # sqrt((kurtosis - 1) / n), about 0.012 here (kurtosis 3.98); allow 5 of them.
    z = r - r.mean()
    kurtosis = np.mean(z**4) / np.mean(z**2) ** 2
    assert abs(r.var() / var - 1) < 5 * np.sqrt((kurtosis - 1) / n)


def test_rho_spread_formula_against_sampling_and_limits():
    rng = np.random.default_rng(1)
    K = 20
    A = rng.normal(size=(K, K)) * np.geomspace(0.05, 3, K)
    C = A @ A.T / K
    r = rho(rng.normal(size=(40000, K)), C)
    sd = rho_spread(C)
    # The sample standard deviation of 40000 draws: relative standard error
    # sqrt((kurtosis - 1) / n) / 2, below 0.01 here; allow 5 of them.
    z = r - r.mean()
    kurtosis = np.mean(z**4) / np.mean(z**2) ** 2
    assert abs(r.std() / sd - 1) < 5 * np.sqrt((kurtosis - 1) / r.size) / 2
    assert rho_spread(3.0 * np.eye(K)) == 0.0                      # white: rho = 1 for every w
    e = np.zeros((K, 1))
    e[0] = 1
    assert abs(rho_spread(e @ e.T) ** 2 - 2 * (K - 1) / (K + 2)) < 1e-12   # rank one
    with pytest.raises(ValueError, match="C must be square"):
        rho_spread(np.ones((3, 4)))


def test_first_step_rho_spread_across_layers_and_seeds_matches_isotropic_theory(batch):
    """Per filter, rho (hence the BN/NLMS ratio 1/rho) scatters around 1 as predicted.

    He initialisation draws each filter isotropically and independently of its layer's input
    covariance C (which depends only on earlier layers), so z = (rho - 1) / rho_spread(C) has
    mean 0 and mean square 1 over filters, layers and seeds. This could fail: a non-isotropic
    initialisation, or a wrong Var(rho), moves the mean square away from 1.
    """
    X, y = batch
    z = {}
    for seed in range(6):
        report = compare_first_step(small_cnn(norm="full", rng=seed), X, y, lr=1e-4)
        for name, c in report.layers.items():
            assert np.all(c.rho_sd == c.rho_sd[0]) and c.rho_sd[0] > 0.1   # coloured C
            # The BN/NLMS ratio is 1/rho per filter (up to eps / sigma^2, eps = 1e-5), so the
            # spread tested on rho below is the spread of the ratio, transformed exactly.
            np.testing.assert_allclose(c.ratio * c.rho, 1.0, rtol=1e-3)
            z.setdefault(name, []).append((c.rho - 1) / c.rho_sd)
    pooled = np.concatenate([np.concatenate(v) for v in z.values()])
    # Tolerance: 3 standard errors of each sample mean, estimated from the sample itself
    # (z is skewed, so its own spread is used rather than a Gaussian value). 480 filters
    # measured: mean z -0.001 (SE 0.045), mean z^2 0.96 (SE 0.09).
    for sample in (*[np.concatenate(v) for v in z.values()], pooled):
        n = sample.size
        assert abs(sample.mean()) < 3 * sample.std() / np.sqrt(n)
        assert abs(np.mean(sample**2) - 1) < 3 * np.std(sample**2) / np.sqrt(n)


def test_first_step_scale_invariance_and_first_order_agreement(batch):
    X, y = batch
    model = small_cnn(rng=0)
    for name in ("bn1", "bn2", "bn3"):
        model[name].eps = 1e-12    # so that w . dL/dw = 0 holds to round-off, not to O(eps)
    weights = {n: p.copy() for n, p, _ in model.named_parameters()}
    report = compare_first_step(model, X, y, lr=1e-4)
    assert set(report.layers) == {"conv1", "conv2", "conv3"}
    for name, c in report.layers.items():
        # Fact 2: BatchNorm makes the loss scale-invariant in w, so the gradient is orthogonal
        # to w: |cos| is round-off (~1e-10 seen), far below any real correlation.
        assert np.max(c.scale_invariance) < 1e-8, name
        # Fact 3: the actual change of the normalised output matches the first-order
        # formula; the remainder is O(lr) = 1e-4 times curvature terms (~1e-5 seen).
        assert np.max(c.bn_error) < 1e-3, name
        np.testing.assert_allclose(c.ratio * c.rho, 1.0, rtol=1e-6)  # ratio = 1/rho up to eps
    for n, p, _ in model.named_parameters():
        assert np.array_equal(p, weights[n])   # inspecting never changes the model


def test_first_step_matches_nlms_for_white_input():
    rng = np.random.default_rng(0)
    M, D, Fo = 256, 12, 5
    A = rng.normal(size=(M, D))
    Q, _ = np.linalg.qr(A - A.mean(axis=0))       # orthonormal, zero-mean columns
    X = np.sqrt(M) * Q + rng.normal(size=D)       # centred covariance exactly I, plus a mean
    y = rng.integers(0, 3, size=M)
    model = Sequential(Linear(D, Fo, bias=False, rng=1), BatchNorm1d(Fo), ReLU(),
                       Linear(Fo, 3, rng=2))
    c = compare_first_step(model, X, y, lr=1e-4).layers["fc1"]
    np.testing.assert_allclose(c.rho, 1.0, rtol=1e-10)
    # With C = I BatchNorm's output-power normaliser equals NLMS's input-power one (up to
    # eps = 1e-5 against sigma^2 ~ 2), so the NLMS prediction is as good as BatchNorm's own.
    assert np.max(c.nlms_error) < 1e-3


def test_first_step_report_round_trips(tmp_path, batch):
    X, y = batch
    report = compare_first_step(small_cnn(norm="full", rng=0), X, y, lr=1e-3)
    path = report.save(tmp_path / "first")
    back = type(report).load(path)
    assert back.lr == report.lr and set(back.layers) == set(report.layers)
    for name in report.layers:
        assert np.array_equal(back.layers[name].rho, report.layers[name].rho)
    skipped = compare_first_step(small_cnn(norm="amplify", rng=0), X, y, lr=1e-3)
    assert not skipped.layers and "mode 'amplify'" in skipped.skipped["conv1"]


# ----------------------------------------------------------------------- modes during training
def test_exact_case_modes_follow_lms_theory():
    """The last layer, trained alone on an MSE loss with full batches, is exactly LMS in mean."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 2, 6, 6))
    model = Sequential(Conv2d(2, 3, 3, rng=1), ReLU(), Flatten(), Linear(48, 1, bias=False, rng=2))
    U = capture_regressors(model, X, layers=["fc1"], max_rows=10**6)["fc1"]
    spec = Spectrum.from_regressors(U)
    w_o = rng.normal(size=48) * 0.1
    target = (U @ w_o)[:, None]
    lr, steps = 0.5 * spec.stability_bound(), 60
    tracker = ModeTracker(every=1, rng=0)
    head = [t for t in model.named_parameters() if t[0] == "fc1.weight"]
    train(model, X, target, loss="mse", steps=steps, lr=lr, batch_size=128, params=head,
          callbacks=[tracker], rng=0)
    rec = tracker.record["fc1"]
    assert rec.case == "exact" and layer_case(model, "conv1") == "approximate"
    # rec.weights[t] is w(t+1); mse_loss averages over the 128 x 1 outputs, so the update is
    # w <- w - lr R (w - w_o) with R = U^T U / 128: LMS with mu = lr, deterministic.
    w = np.vstack([model["fc1"].params["weight"] * 0 + rec.weights[0]
                   - rec.update_modes[0] @ spec.eigenvectors.T,
                   rec.weights[:, 0, :]])
    v = mode_coordinates(w, spec, w_o)
    pred = predicted_modes(v[0], spec, lr, steps)
    # Full batches in a shuffled order change only the summation order: round-off, relative to
    # the initial error, grows no faster than steps * 1e-15.
    assert np.max(np.abs(v - pred)) < 1e-9 * np.max(np.abs(v[0]))


def test_mode_tracker_records_bn_quantities_and_round_trips(tmp_path):
    X, y = shapes(256, rng=0)
    tracker = ModeTracker(every=4, rng=0)
    train(small_cnn(rng=0), X, y, steps=9, lr=0.1, callbacks=[tracker], rng=0)
    rec = tracker.record["conv2"]
    assert rec.steps.tolist() == [0, 4, 8]
    assert rec.eigenvalues.shape == (3, 144) and rec.modes.shape == (3, 32, 144)
    assert np.all(np.diff(rec.eigenvalues, axis=1) <= 0)
    np.testing.assert_allclose(rec.stability_bound, 2 / rec.lambda_max)
    assert np.all(rec.modes[-1] == 0)      # the last record is the final weights
    assert set(rec.bn) == {"bn_step", "nlms_mu", "nlms_step", "ratio", "rho", "w_norm"}
    assert rec.bn["rho"].shape == (3, 32) and "bn_step" not in tracker.record["fc1"].bn
    back = ModeTracker.load(tracker.save(tmp_path / "modes"))
    for key in ("eigenvalues", "modes", "update_modes", "weights"):
        assert np.array_equal(getattr(back.record["conv2"], key), getattr(rec, key))
    assert np.array_equal(back.record["conv2"].bn["ratio"], rec.bn["ratio"])


# ----------------------------------------------------------------------- stability: BN vs none
def _diverges(norm, X, y, lr, in_channels=3):
    # 15 steps: the plain nets blow up within 4 steps at these rates (measured), and 15 steps
    # are enough to see the BatchNorm nets keep going.
    h = train(small_cnn(in_channels=in_channels, norm=norm, rng=0), X, y, steps=15, lr=lr, rng=0)
    return h.diverged


def test_plain_net_diverges_where_batchnorm_trains_procedural():
    X, y = shapes(512, rng=0)
    assert _diverges("none", X, y, lr=1.0)
    assert not _diverges("full", X, y, lr=1.0)


@pytest.mark.skipif(not MNIST.exists(), reason="../shared/data/mnist5k.npz is not present")
def test_plain_net_diverges_where_batchnorm_trains_mnist():
    with np.load(MNIST) as data:
        X = data["images"][:256, None].astype(np.float64)
        y = data["labels"][:256].astype(np.int64)
    # Standardised, as MNIST usually is. On raw [0, 1] pixels the plain net does not overflow at
    # these rates: its ReLUs die after one huge step and the loss sits at ln 10 (measured).
    X = (X - X.mean()) / X.std()
    # lr = 3: the plain net blows up by step 5 for seeds 0 and 1; BatchNorm trains (measured).
    assert _diverges("none", X, y, lr=3.0, in_channels=1)
    assert not _diverges("full", X, y, lr=3.0, in_channels=1)
    spectra = layer_spectra(small_cnn(in_channels=1, rng=0), X[:64])
    assert spectra["conv1"].K == 9 and np.isfinite(spectra["conv2"].spread)


def test_regressors_rejects_other_layers():
    with pytest.raises(TypeError, match="layer must be a Conv1d, Conv2d or Linear"):
        regressors(ReLU(), np.ones((2, 3)))
