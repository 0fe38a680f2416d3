"""Every layer as a pure function pair, in one namespace.

``*_forward(...) -> (out, cache)`` computes a layer and keeps what the backward pass needs;
``*_backward(dout, cache)`` returns the gradients. The layer classes in :mod:`lmsbn.nn.layers`
hold parameters and call these functions *through this module*, so a student's own
forward/backward pair swapped in here (see ``lmsbn.use`` in the homework kit) drives the whole
library. The conv functions themselves look up ``im2col2d`` / ``col2im2d`` (``im2col1d`` /
``col2im1d``) in :mod:`lmsbn.nn.im2col` at every call, and ``lmsbn.use`` swaps them there too,
so a swapped ``im2col2d`` is what training runs, and what :func:`lmsbn.bridge.regressors` reads
back from the layer's cache.

Where each concept lives:

=====================  =========================================================================
:mod:`.im2col`         ``im2col2d``, ``col2im2d``, ``im2col1d``, ``col2im1d`` and naive twins
:mod:`.conv`           ``conv{1,2}d_forward`` / ``_backward`` and their naive twins
:mod:`.batchnorm`      ``batchnorm_forward`` / ``_backward`` (all modes), ``BatchNormState``
:mod:`.linear`         ``linear_forward`` / ``_backward``
:mod:`.activations`    ``relu_forward`` / ``_backward``
:mod:`.pooling`        max, average and global-average pooling
:mod:`.losses`         ``softmax_cross_entropy``, ``mse_loss``
=====================  =========================================================================
"""

from lmsbn.nn.activations import relu_backward, relu_forward
from lmsbn.nn.batchnorm import BN_MODES, BatchNormState, batchnorm_backward, batchnorm_forward
from lmsbn.nn.conv import (
    conv1d_backward,
    conv1d_backward_naive,
    conv1d_forward,
    conv1d_forward_naive,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
)
from lmsbn.nn.im2col import (
    col2im1d,
    col2im1d_naive,
    col2im2d,
    col2im2d_naive,
    im2col1d,
    im2col1d_naive,
    im2col2d,
    im2col2d_naive,
)
from lmsbn.nn.linear import linear_backward, linear_forward
from lmsbn.nn.losses import mse_loss, softmax_cross_entropy
from lmsbn.nn.pooling import (
    avgpool2d_backward,
    avgpool2d_forward,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

__all__ = [
    "BN_MODES", "BatchNormState", "avgpool2d_backward", "avgpool2d_forward",
    "batchnorm_backward", "batchnorm_forward", "col2im1d", "col2im1d_naive", "col2im2d",
    "col2im2d_naive", "conv1d_backward", "conv1d_backward_naive", "conv1d_forward",
    "conv1d_forward_naive", "conv2d_backward", "conv2d_backward_naive", "conv2d_forward",
    "conv2d_forward_naive", "global_avgpool_backward", "global_avgpool_forward", "im2col1d",
    "im2col1d_naive", "im2col2d", "im2col2d_naive", "linear_backward", "linear_forward",
    "maxpool2d_backward", "maxpool2d_forward", "mse_loss", "relu_backward", "relu_forward",
    "softmax_cross_entropy",
]
