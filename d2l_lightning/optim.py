"""The book's optimizers written from scratch as `torch.optim.Optimizer` subclasses.

They plug into any config (`optimizer: {class_path: d2l_lightning.optim.SGD, init_args: {lr: 0.1}}`),
take parameter groups, and save/restore through `state_dict` like the builtins.
"""

import torch
from torch.optim import Optimizer


class SGD(Optimizer):
    """3.2 minibatch SGD: p <- p - lr * grad.

    The book's `d2l.sgd(params, lr, batch_size)` also divides by the batch size although its losses
    are already averaged in most sections (results.md C5); we do not, so a book learning rate that
    relied on that division becomes lr / batch_size in our configs (their comments say so).
    """

    def __init__(self, params, lr: float = 0.1, weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"SGD learning rate must be positive, got lr={lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad + group["weight_decay"] * p
                p.sub_(group["lr"] * grad)
        return loss
