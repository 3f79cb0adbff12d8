"""10.8 one-dimensional cross-correlation, written out as the book does: one channel (`corr1d`,
figure 10.4) and several input channels summed (`corr1d_multi_in`, figure 10.5). Tested against
`F.conv1d`, which computes the same thing for a whole batch and many output channels."""

import torch
from torch import Tensor


def corr1d(X: Tensor, K: Tensor) -> Tensor:
    """10.8: cross-correlation of a length-n array with a length-w kernel, no padding, stride 1:
    output n - w + 1, element i = sum(X[i:i+w] * K). Stacked instead of the book's writes into a
    zeros tensor, so gradients reach X and K through autograd."""
    w = K.shape[0]
    n_out = X.shape[0] - w + 1
    if X.dim() != 1 or K.dim() != 1:
        raise ValueError(f"corr1d takes 1-D X and K, got shapes {tuple(X.shape)} and {tuple(K.shape)}")
    if n_out < 1:
        raise ValueError(f"kernel of width {w} is wider than the input ({X.shape[0]})")
    X, K = X.float(), K.float()
    return torch.stack([(X[i: i + w] * K).sum() for i in range(n_out)])


def corr1d_multi_in(X: Tensor, K: Tensor) -> Tensor:
    """10.8: X (channels, n), K (channels, w): one `corr1d` per input channel, summed over the
    channels (the same as a 2-D cross-correlation of one channel whose kernel is as tall as the
    input, figure 10.6)."""
    if X.shape[0] != K.shape[0]:
        raise ValueError(f"input has {X.shape[0]} channels but the kernel {K.shape[0]}")
    return torch.stack([corr1d(x, k) for x, k in zip(X, K)]).sum(dim=0)
