"""Chapter 5 operations written out as the book does: 2-D cross-correlation (5.1), several input
and output channels and the 1x1 convolution (5.3), `comp_conv2d` to see
padding and stride change shapes (5.2), pooling (5.4) and batch normalisation (5.10).
Each is tested against its torch twin (`F.conv2d`, `F.max_pool2d`/`F.avg_pool2d`,
`nn.BatchNorm1d/2d`)."""

import torch
from torch import Tensor, nn


def corr2d(X: Tensor, K: Tensor) -> Tensor:
    """5.1: 2-D cross-correlation of an (h, w) array with an (kh, kw) kernel, no padding, stride 1.
    Output (h - kh + 1, w - kw + 1). Differentiable in X and K (the book's in-place writes into a
    zeros tensor are replaced by stacking, so gradients reach K through autograd)."""
    h, w = K.shape
    out_h, out_w = X.shape[0] - h + 1, X.shape[1] - w + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"kernel {tuple(K.shape)} is larger than the input {tuple(X.shape)}")
    X, K = X.float(), K.float()
    rows = [torch.stack([(X[i: i + h, j: j + w] * K).sum() for j in range(out_w)]) for i in range(out_h)]
    return torch.stack(rows)


def corr2d_multi_in(X: Tensor, K: Tensor) -> Tensor:
    """5.3: X (c_i, h, w), K (c_i, kh, kw): one cross-correlation per input channel, summed."""
    if X.shape[0] != K.shape[0]:
        raise ValueError(f"input has {X.shape[0]} channels but the kernel {K.shape[0]}")
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X: Tensor, K: Tensor) -> Tensor:
    """5.3: K (c_o, c_i, kh, kw): one multi-input correlation per output channel, stacked."""
    return torch.stack([corr2d_multi_in(X, k) for k in K])


def corr2d_multi_in_out_1x1(X: Tensor, K: Tensor) -> Tensor:
    """5.3: a 1x1 convolution is a matrix multiply: (c_o, c_i) @ (c_i, h*w)."""
    c_i, h, w = X.shape
    c_o = K.shape[0]
    return (K.reshape(c_o, c_i).float() @ X.reshape(c_i, h * w).float()).reshape(c_o, h, w)


def pool2d(X: Tensor, pool_size: tuple[int, int], mode: str = "max") -> Tensor:
    """5.4: max or average over every (p_h, p_w) window, stride 1, no padding."""
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    X = X.float()
    p_h, p_w = pool_size
    reduce = (lambda t: t.max()) if mode == "max" else (lambda t: t.mean())
    rows = [torch.stack([reduce(X[i: i + p_h, j: j + p_w]) for j in range(X.shape[1] - p_w + 1)])
            for i in range(X.shape[0] - p_h + 1)]
    return torch.stack(rows)


def comp_conv2d(conv2d: nn.Module, X: Tensor) -> Tensor:
    """5.2: applies a 2-D convolution layer to one (h, w) array (as a batch of one single-channel
    image) and returns the (h', w') output, to see what padding and stride do to the shape:
    h' = floor((h - kh + 2 ph + sh) / sh), likewise w'."""
    Y = conv2d(X.reshape((1, 1) + tuple(X.shape)))
    return Y.reshape(Y.shape[2:])


class Conv2D(nn.Module):
    """5.1: a 2-D convolution layer on one (h, w) image built on our `corr2d`: weight and bias ~ N(0, 1)
    as the book."""

    def __init__(self, kernel_size: tuple[int, int]):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(tuple(kernel_size)))
        self.bias = nn.Parameter(torch.randn(1))

    def forward(self, x: Tensor) -> Tensor:
        return corr2d(x, self.weight) + self.bias


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _summed_over_ranks(t: Tensor) -> Tensor:
    """All ranks' `t` summed, with gradients flowing back to every rank (DDP's sync batch norm)."""
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(t)


def batch_norm(is_training: bool, X: Tensor, gamma: Tensor, beta: Tensor, moving_mean: Tensor,
               moving_var: Tensor, eps: float, momentum: float,
               unbiased_moving_var: bool = False, sync: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """5.10: batch normalisation of (n, c) or (n, c, h, w) inputs.

    Training: normalise by the batch's mean and (biased) variance over dim 0 (fully connected) or
    dims 0, 2, 3 (convolutional), and update the moving statistics as
    `moving = momentum * moving + (1 - momentum) * batch` (the book's momentum 0.9 is torch's
    `momentum=0.1`). Evaluation: normalise by the moving statistics. Returns
    (gamma * X_hat + beta, moving_mean, moving_var). `unbiased_moving_var` feeds the moving variance
    with the unbiased batch variance (x n/(n-1)), as `nn.BatchNorm` does; the book uses the biased one.
    `sync` (under DDP): the statistics are those of all ranks' batches together, the same two passes
    with the sums added over ranks, so the gradients are those of the whole batch on one device."""
    if not is_training:
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        if X.dim() not in (2, 4):
            raise ValueError(f"batch_norm expects 2-D or 4-D input, got {X.dim()}-D")
        dims = (0,) if X.dim() == 2 else (0, 2, 3)
        n = X.numel() // X.shape[1]
        if sync and _world_size() > 1:
            n = int(_summed_over_ranks(torch.tensor(float(n), device=X.device)))
            mean = _summed_over_ranks(X.sum(dim=dims, keepdim=True)) / n
            var = _summed_over_ranks(((X - mean) ** 2).sum(dim=dims, keepdim=True)) / n
        else:
            mean = X.mean(dim=dims, keepdim=True)
            var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        batch_var = var * n / (n - 1) if unbiased_moving_var and n > 1 else var
        with torch.no_grad():
            moving_mean = momentum * moving_mean + (1.0 - momentum) * mean.reshape(moving_mean.shape)
            moving_var = momentum * moving_var + (1.0 - momentum) * batch_var.reshape(moving_var.shape)
    return gamma * X_hat + beta, moving_mean, moving_var


class BatchNorm(nn.Module):
    """5.10: `BatchNorm(num_features, num_dims)` with gamma = 1, beta = 0 and moving mean/variance
    starting at 0 (as the book; torch starts the variance at 1, see the tests). The moving
    statistics are buffers, so they follow the module to its device and into checkpoints, and
    `self.training` chooses batch vs moving statistics.

    Args:
        num_features: channels (4-D input) or features (2-D input).
        num_dims: 2 for fully connected, 4 for convolutional layers.
        eps, momentum: the book's 1e-5 and 0.9 (weight of the old moving value).
        moving_var_init: start of the moving variance (book 0; `nn.BatchNorm` uses 1).
        unbiased_moving_var: update the moving variance with the unbiased batch variance
            (`nn.BatchNorm`'s convention; the book: biased).

    `sync` (an attribute, off by default) makes the training statistics those of all DDP ranks'
    batches together; `trainer.sync_batchnorm: true` turns it on (`d2l_lightning.plugins`), on
    CPUs as well as GPUs.
    """

    sync = False

    def __init__(self, num_features: int, num_dims: int, eps: float = 1e-5, momentum: float = 0.9,
                 moving_var_init: float = 0.0, unbiased_moving_var: bool = False):
        super().__init__()
        if num_dims not in (2, 4):
            raise ValueError(f"num_dims must be 2 or 4, got {num_dims}")
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.eps, self.momentum, self.unbiased_moving_var = eps, momentum, unbiased_moving_var
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.register_buffer("moving_mean", torch.zeros(shape))
        self.register_buffer("moving_var", torch.full(shape, float(moving_var_init)))

    def forward(self, X: Tensor) -> Tensor:
        Y, moving_mean, moving_var = batch_norm(self.training, X, self.gamma, self.beta, self.moving_mean,
                                                self.moving_var, eps=self.eps, momentum=self.momentum,
                                                unbiased_moving_var=self.unbiased_moving_var, sync=self.sync)
        if self.training:
            self.moving_mean.copy_(moving_mean)
            self.moving_var.copy_(moving_var)
        return Y

    def extra_repr(self) -> str:
        return f"{self.gamma.shape[1]}, num_dims={self.gamma.dim()}, eps={self.eps}, momentum={self.momentum}"
