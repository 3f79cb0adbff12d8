"""From-scratch versions of what the book builds by hand; each is tested against its torch twin."""

from d2l_lightning.scratch.conv import (
    BatchNorm,
    Conv2D,
    batch_norm,
    corr2d,
    corr2d_multi_in,
    corr2d_multi_in_out,
    corr2d_multi_in_out_1x1,
    pool2d,
)
from d2l_lightning.scratch.conv1d import corr1d, corr1d_multi_in
from d2l_lightning.scratch.ops import (
    cross_entropy,
    dropout,
    l2_penalty,
    linreg,
    relu,
    softmax,
    squared_loss,
)
from d2l_lightning.scratch.rnn import (
    GRULayerScratch,
    LSTMLayerScratch,
    RNNLayerScratch,
    grad_clipping,
    one_hot,
)

__all__ = ["BatchNorm", "Conv2D", "GRULayerScratch", "LSTMLayerScratch", "RNNLayerScratch",
    "batch_norm", "corr2d", "corr2d_multi_in", "corr2d_multi_in_out", "corr2d_multi_in_out_1x1",
    "cross_entropy", "dropout", "grad_clipping", "l2_penalty", "linreg", "one_hot", "pool2d",
    "relu", "softmax", "squared_loss"]
__all__ += ["corr1d", "corr1d_multi_in"]  # 10.8
