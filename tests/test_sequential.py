"""Layer classes, Sequential (naming, hooks, summary), SGD and small_cnn."""

import numpy as np
import pytest

from lmsbn.nn import (
    SGD,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    small_cnn,
)
from lmsbn.nn import functional as F
from lmsbn.nn.gradcheck import numerical_gradient, rel_error


def tiny_net(norm=True, rng=0):
    layers = [Conv2d(2, 3, (3, 2), padding=1, bias=not norm, rng=rng)]
    if norm:
        layers.append(BatchNorm2d(3))
    layers += [ReLU(), MaxPool2d(2), Flatten(), Linear(3 * 3 * 4, 4, rng=rng)]
    return Sequential(*layers)


def test_layers_are_named_by_type_and_order():
    net = small_cnn(rng=0)
    names = [n for n, _ in net.named_layers()]
    assert names[:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert names[-2:] == ["gap1", "fc1"]
    assert "conv3" in names and "pool3" not in names
    first = [n for n, _, _ in net.named_parameters()][:3]
    assert first == ["conv1.weight", "bn1.weight", "bn1.bias"]


def test_explicit_names_and_duplicates():
    net = Sequential([("enc", Conv1d(1, 2, 3, rng=0)), ("act", ReLU())])
    assert net["enc"] is net[0]
    with pytest.raises(ValueError, match="duplicate layer name 'a'"):
        Sequential([("a", ReLU()), ("a", ReLU())])
    with pytest.raises(KeyError, match="no layer named 'conv9'"):
        net["conv9"]


def test_whole_network_gradient_matches_numerical():
    # The chain rule through every layer class: d(sum(out * dout))/d(param) checked numerically.
    rng = np.random.default_rng(1)
    net = tiny_net()
    x = rng.normal(size=(4, 2, 6, 7))
    out = net.forward(x)
    dout = rng.normal(size=out.shape)
    dx = net.backward(dout)
    assert rel_error(dx, numerical_gradient(lambda a: net.forward(a), x.copy(), dout)) < 1e-6
    for name, p, g in net.named_parameters():
        g = g.copy()
        num = numerical_gradient(lambda _: net.forward(x), p, dout)
        # 1e-6 rather than 1e-7: errors compound through six layers and a max-pool, and the
        # ReLU/max kinks are avoided only with high probability for random inputs.
        assert rel_error(g, num) < 1e-6, name


def test_bias_before_batchnorm_gets_no_gradient():
    # BatchNorm subtracts the channel mean, so a constant added before it cannot change the loss.
    net = Sequential(Conv2d(2, 3, 3, rng=0), BatchNorm2d(3), ReLU())
    x = np.random.default_rng(0).normal(size=(4, 2, 5, 5))
    out = net.forward(x)
    net.backward(np.random.default_rng(1).normal(size=out.shape))
    # Exactly zero in exact arithmetic; in float64 a sum of ~100 terms of size ~1 leaves ~1e-14.
    assert np.max(np.abs(net["conv1"].grads["bias"])) < 1e-12


def test_forward_and_backward_hooks_see_every_layer():
    net = tiny_net()
    seen_f, seen_b = [], []
    h1 = net.register_forward_hook(lambda n, layer, i, o: seen_f.append((n, i.shape, o.shape)))
    h2 = net.register_backward_hook(lambda n, layer, do, di: seen_b.append((n, do.shape, di.shape)))
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 7))
    out = net.forward(x)
    net.backward(np.ones_like(out))
    assert [s[0] for s in seen_f] == [n for n, _ in net.named_layers()]
    assert seen_f[0][1] == x.shape
    assert [s[0] for s in seen_b] == [n for n, _ in reversed(list(net.named_layers()))]
    h1.remove()
    h2.remove()
    net.forward(x)
    assert len(seen_f) == len(net)


def test_summary_reports_shapes_and_counts(capsys):
    net = small_cnn(rng=0)
    text = net.summary((3, 16, 16))
    assert "(16, 8, 8)" in text and "(10,)" in text
    assert f"total parameters: {net.num_parameters()}" in text
    # One rule for every summary(): return the text, print nothing (a notebook shows it once).
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="layer 'conv1'"):
        net.summary((4, 16, 16))  # wrong number of channels: the message names the layer


def test_summary_does_not_touch_running_statistics():
    net = small_cnn(rng=0)
    before = net["bn1"].state.running_mean.copy()
    net.summary((3, 16, 16))
    assert np.array_equal(before, net["bn1"].state.running_mean)


def test_sgd_plain_momentum_and_weight_decay():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    opt = SGD([("p", p, g)], lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()
    step1 = g + 0.01 * np.array([1.0, -2.0])
    assert np.allclose(p, np.array([1.0, -2.0]) - 0.1 * step1, rtol=0, atol=1e-15)
    p_before = p.copy()
    opt.step()
    v2 = 0.9 * step1 + (g + 0.01 * p_before)
    assert np.allclose(p, p_before - 0.1 * v2, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="lr must be positive"):
        SGD([("p", p, g)], lr=-0.1)
    with pytest.raises(ValueError, match="params is empty"):
        SGD([], lr=0.1)


def test_small_cnn_same_seed_same_filters_for_every_norm():
    a = small_cnn(norm="none", rng=3)
    b = small_cnn(norm="full", rng=3)
    assert np.array_equal(a["conv2"].params["weight"], b["conv2"].params["weight"])
    assert "bias" in a["conv1"].params and "bias" not in b["conv1"].params
    with pytest.raises(ValueError, match="norm must be one of"):
        small_cnn(norm="batch")


def test_float32_model_stays_float32():
    net = small_cnn(rng=0, dtype=np.float32)
    out = net.forward(np.zeros((2, 3, 16, 16), np.float32) + 1)
    assert out.dtype == np.float32
    assert net.backward(np.ones_like(out)).dtype == np.float32


def test_he_initialisation_variance():
    w = Conv2d(32, 64, 3, rng=0).params["weight"]
    # 18432 draws of N(0, 2/288): the sample variance has relative std sqrt(2/18432) ~ 1%,
    # so 5% is a > 4 sigma bound.
    assert abs(w.var() / (2 / 288) - 1) < 0.05


def test_batchnorm_layer_rank_and_mode_errors():
    with pytest.raises(ValueError, match="BatchNorm2d expects an input with 4 dimensions"):
        BatchNorm2d(3).forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match="mode must be one of"):
        BatchNorm1d(3, mode="whiten")
    out = BatchNorm1d(3).forward(np.random.default_rng(0).normal(size=(5, 3, 4)))
    assert out.shape == (5, 3, 4)


def test_layer_reprs_show_hyperparameters():
    assert repr(Conv2d(3, 8, 3, stride=2, padding=1, rng=0)) == \
        "Conv2d(3, 8, kernel_size=(3, 3), stride=2, padding=1, bias=True)"
    assert "mode='amplify'" in repr(BatchNorm2d(4, mode="amplify"))
    assert repr(GlobalAvgPool2d()) == "GlobalAvgPool2d()"


def test_layer_calls_go_through_functional_module(monkeypatch):
    # The homework kit swaps a student's function into lmsbn.nn.functional; the layers must use it.
    calls = []
    original = F.relu_forward

    def spy(x):
        calls.append(x.shape)
        return original(x)

    monkeypatch.setattr(F, "relu_forward", spy)
    ReLU().forward(np.ones((2, 3)))
    assert calls == [(2, 3)]


def test_parameters_vector_round_trips_and_writes_in_place():
    model = small_cnn(3, 4, widths=(2, 3, 3), norm="full", rng=0)
    theta = model.parameters_vector()
    assert theta.shape == (model.num_parameters(),)
    first = next(iter(model.named_parameters()))[1]
    model.set_parameters_vector(theta + 1.0)
    # The layers' own arrays change (no copy), and reading back gives what was written.
    np.testing.assert_array_equal(first.ravel(), theta[:first.size] + 1.0)
    np.testing.assert_array_equal(model.parameters_vector(), theta + 1.0)
    assert model.parameters_vector() is not model.parameters_vector()     # a new vector each time
    with pytest.raises(ValueError, match=r"theta must have shape"):
        model.set_parameters_vector(theta[:-1])
