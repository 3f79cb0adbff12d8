"""From-scratch versions of what the book builds by hand; each is tested against its torch twin."""

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

__all__ = ["GRULayerScratch", "LSTMLayerScratch", "RNNLayerScratch", "cross_entropy", "dropout",
           "grad_clipping", "l2_penalty", "linreg", "one_hot", "relu", "softmax", "squared_loss"]
