"""conv1d / conv2d against PyTorch (optional: skipped when torch is not importable)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lmsbn.nn.conv import conv1d_backward, conv1d_forward, conv2d_backward, conv2d_forward  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.a4_conv]

# Both sides compute the same float64 sums in different orders; 1e-10 relative to the largest
# entry is far above the rounding difference (~1e-15) and far below any semantic mismatch
# (kernel flip, padding side, stride phase), which would be O(1).
TOL = 1e-10


def _close(a, t):
    t = t.detach().numpy()
    assert a.shape == t.shape
    assert np.max(np.abs(a - t)) <= TOL * max(1.0, np.max(np.abs(t)))


def _run(fwd, bwd, tfun, xs, ws, stride, pad, bias, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out, cache = fwd(x, w, b if bias else None, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = bwd(dout, cache)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if bias else None
    tout = tfun(tx, tw, tb, stride=stride, padding=pad)
    tout.backward(torch.tensor(dout))
    _close(out, tout)
    _close(dx, tx.grad)
    _close(dw, tw.grad)
    if bias:
        _close(db, tb.grad)
    else:
        assert db is None


@pytest.mark.parametrize("xs, ws, stride, pad, bias", [
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, True),
    ((3, 2, 9, 7), (5, 2, 2, 3), (2, 1), (1, 0), True),
    ((1, 4, 10, 11), (2, 4, 5, 4), 3, 2, False),
])
def test_conv2d_matches_torch(xs, ws, stride, pad, bias):
    _run(conv2d_forward, conv2d_backward, torch.nn.functional.conv2d, xs, ws, stride, pad, bias, 0)


@pytest.mark.parametrize("xs, ws, stride, pad, bias", [
    ((2, 3, 16), (4, 3, 3), 1, 1, True),
    ((3, 1, 20), (2, 1, 5), 2, 2, False),
    ((1, 2, 7), (3, 2, 7), 3, 0, True),
])
def test_conv1d_matches_torch(xs, ws, stride, pad, bias):
    _run(conv1d_forward, conv1d_backward, torch.nn.functional.conv1d, xs, ws, stride, pad, bias, 1)
