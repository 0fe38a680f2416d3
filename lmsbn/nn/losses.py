r"""Loss functions, each returning the loss and its gradient in one call.

``mse_loss`` carries a factor 1/2 so that its gradient is the plain error divided by the number of
entries: an SGD step on a linear layer fed straight into it is then *exactly* block LMS
(see :class:`lmsbn.filters.BlockLMS` and tutorial 03), with no stray factor 2 in the step size.
"""

from __future__ import annotations

import numpy as np

from lmsbn._checks import as_float_array, describe

__all__ = ["mse_loss", "softmax_cross_entropy"]


def softmax_cross_entropy(logits, y):
    r"""Mean softmax cross-entropy over a batch, and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, K)
        Unnormalised class scores. float32 is preserved in ``dlogits``.
    y : ndarray of int, shape (N,)
        Class labels in ``[0, K)``. Must have an integer dtype.

    Returns
    -------
    loss : float
        :math:`\frac1N \sum_n \big[\log \sum_k e^{z_{nk}} - z_{n y_n}\big]`.
    dlogits : ndarray, shape (N, K)
        :math:`(\mathrm{softmax}(z) - \mathrm{onehot}(y)) / N`.

    Notes
    -----
    Numerically stable: the log-sum-exp subtracts each row's maximum first, so logits of any
    finite size give a finite loss. Non-finite logits give a non-finite loss quietly (no
    RuntimeWarning), which the training loop records as divergence.

    Examples
    --------
    >>> import numpy as np
    >>> loss, _ = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> bool(np.isclose(loss, np.log(4)))
    True
    """
    logits = as_float_array(logits, "logits", ndim=2, finite=False)
    N, K = logits.shape
    y_arr = np.asarray(y)
    if y_arr.dtype.kind not in "iu":
        raise TypeError(f"y must be integer class labels, got {describe(y_arr)}")
    if y_arr.shape != (N,):
        raise ValueError(
            f"y must have shape ({N},), one label per row of logits, got {y_arr.shape}")
    if np.any((y_arr < 0) | (y_arr >= K)):
        bad = y_arr[(y_arr < 0) | (y_arr >= K)]
        raise ValueError(f"y must hold labels in [0, {K}) for {K} classes, "
                         f"got values {bad[:5].tolist()}")

    rows = np.arange(N)
    with np.errstate(over="ignore", invalid="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y_arr]))
        dlogits = exp / total
    dlogits[rows, y_arr] -= 1
    dlogits /= N
    return loss, dlogits


def mse_loss(pred, target):
    r"""Half mean squared error over all entries, and its gradient.

    Parameters
    ----------
    pred : ndarray, any shape
    target : ndarray, exactly the shape of ``pred`` (no broadcasting)

    Returns
    -------
    loss : float
        :math:`\frac{1}{2S} \sum_i (p_i - t_i)^2` with :math:`S` = ``pred.size``.
    dpred : ndarray, shape of pred
        :math:`(p - t) / S`.

    Notes
    -----
    The factor 1/2 is deliberate: with it, the gradient is the error itself (over S), so
    ``w -= mu * dw`` for a linear layer feeding this loss is the block-LMS update
    :math:`w \leftarrow w + \mu\, E^\top U / M` with :math:`E = t - p` (for one output,
    :math:`S = M`). PyTorch's ``mse_loss`` has no 1/2; multiply by 2 to compare.
    Broadcasting is refused because a (N,) target against an (N, 1) prediction would silently
    produce an (N, N) error.
    """
    pred = as_float_array(pred, "pred", finite=False)
    target = as_float_array(target, "target", finite=False)
    if pred.shape != target.shape:
        raise ValueError(f"target must have exactly the shape of pred {pred.shape} "
                         f"(no broadcasting), got {target.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        err = pred - target
        loss = float(np.sum(err * err)) / (2 * pred.size)
        dpred = err / pred.size
    return loss, dpred
