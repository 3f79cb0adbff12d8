"""Chapter 3 operations written out as the book does (3.2, 3.6, 3.9, 3.12, 3.13)."""

import torch
from torch import Tensor

from d2l_lightning.errors import check_range


def linreg(X: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """3.2: the linear model X w + b."""
    return X @ w + b


def squared_loss(y_hat: Tensor, y: Tensor) -> Tensor:
    """3.2: (y_hat - y)^2 / 2, averaged over the batch (the book sums and divides in `sgd`)."""
    return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()


def softmax(X: Tensor) -> Tensor:
    """3.6: row-wise softmax. Subtracting the row max changes nothing mathematically but keeps
    exp() from overflowing (the book's version overflows for logits above ~88)."""
    X_exp = (X - X.max(dim=1, keepdim=True).values).exp()
    return X_exp / X_exp.sum(dim=1, keepdim=True)


def cross_entropy(y_hat: Tensor, y: Tensor) -> Tensor:
    """3.6: -log of the probability given to the true class (via `gather`), averaged."""
    return -torch.log(y_hat.gather(1, y.view(-1, 1))).mean()


def relu(X: Tensor) -> Tensor:
    """3.9: max(X, 0) elementwise."""
    return torch.max(X, torch.zeros_like(X))


def l2_penalty(w: Tensor) -> Tensor:
    """3.12: ||w||^2 / 2."""
    return (w**2).sum() / 2


def dropout(X: Tensor, p: float, training: bool = True) -> Tensor:
    """3.13: inverted dropout. Keeps each unit with probability 1-p and scales it by 1/(1-p), so
    the expectation is unchanged. The mask uses `torch.rand` (uniform); the book's `torch.randn`
    is a bug: a normal draw keeps a unit with probability Φ(1-p), not 1-p, yet the book still
    scales by 1/(1-p), so the expectation changes."""
    check_range("p", p, "[0, 1]", "It is the probability of dropping a unit.")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    mask = (torch.rand(X.shape, device=X.device) > p).to(X.dtype)
    return mask * X / (1.0 - p)
