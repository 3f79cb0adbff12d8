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

__all__ = ["cross_entropy", "dropout", "l2_penalty", "linreg", "relu", "softmax", "squared_loss"]
