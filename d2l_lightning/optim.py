"""The book's optimizers written from scratch as `torch.optim.Optimizer` subclasses.

They plug into any config (`optimizer: {class_path: d2l_lightning.optim.SGD, init_args: {lr: 0.1}}`),
take parameter groups, and save/restore through `state_dict` like the builtins.
"""

import torch
from torch.optim import Optimizer

from d2l_lightning.errors import check_range

__all__ = ["SGD", "Momentum", "AdaGrad", "RMSProp", "AdaDelta", "Adam"]


class _BookOptimizer(Optimizer):
    """The loop all the book's rules share: subclasses define `update(p, grad, state, group)`,
    called for every parameter that has a gradient, under `no_grad`."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state[p], group)
        return loss



class SGD(_BookOptimizer):
    """3.2 / 7.3 minibatch SGD: p <- p - lr * g (plus `weight_decay * p` in g when set).

    The book's `d2l.sgd(params, lr, batch_size)` also divides by the batch size although its losses
    are already averaged in most sections (the book itself notes in 3.9 that the division is not needed
    there); we do not, so a book learning rate that
    relied on that division becomes lr / batch_size in our configs (their comments say so).
    """

    def __init__(self, params, lr: float = 0.1, weight_decay: float = 0.0):
        check_range("lr", lr, "> 0", "It is the learning rate, the size of every step.")
        check_range("weight_decay", weight_decay, ">= 0")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def update(self, p, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        p.sub_(group["lr"] * grad)


class Momentum(_BookOptimizer):
    """7.4 momentum: v <- momentum * v + lr * g; p <- p - v.
    Equals `torch.optim.SGD(lr, momentum)` (which keeps v / lr) while lr is constant."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.5):
        check_range("lr", lr, "> 0", "It is the learning rate, the size of every step.")
        check_range("momentum", momentum, "[0, 1)", "It is the fraction of the velocity kept each step.")
        super().__init__(params, dict(lr=lr, momentum=momentum))

    def update(self, p, grad, state, group):
        if "v" not in state:
            state["v"] = torch.zeros_like(p)
        v = state["v"]
        v.mul_(group["momentum"]).add_(grad, alpha=group["lr"])
        p.sub_(v)


class AdaGrad(_BookOptimizer):
    """7.5 AdaGrad: s <- s + g^2; p <- p - lr * g / sqrt(s + eps), eps = 1e-6 inside the root
    (`torch.optim.Adagrad` adds its eps, default 1e-10, after the root)."""

    def __init__(self, params, lr: float = 0.1, eps: float = 1e-6):
        check_range("lr", lr, "> 0", "It is the learning rate, the size of every step.")
        check_range("eps", eps, ">= 0")
        super().__init__(params, dict(lr=lr, eps=eps))

    def update(self, p, grad, state, group):
        if "s" not in state:
            state["s"] = torch.zeros_like(p)
        s = state["s"]
        s.addcmul_(grad, grad)
        p.addcdiv_(grad, (s + group["eps"]).sqrt(), value=-group["lr"])


class RMSProp(_BookOptimizer):
    """7.6 RMSProp: s <- gamma * s + (1 - gamma) g^2; p <- p - lr * g / sqrt(s + eps), eps = 1e-6
    inside the root (`torch.optim.RMSprop(alpha=gamma)` adds eps after the root)."""

    def __init__(self, params, lr: float = 0.01, gamma: float = 0.9, eps: float = 1e-6):
        check_range("lr", lr, "> 0", "It is the learning rate, the size of every step.")
        check_range("gamma", gamma, "[0, 1)", "It is the decay rate of the squared-gradient average.")
        check_range("eps", eps, ">= 0")
        super().__init__(params, dict(lr=lr, gamma=gamma, eps=eps))

    def update(self, p, grad, state, group):
        if "s" not in state:
            state["s"] = torch.zeros_like(p)
        s, gamma = state["s"], group["gamma"]
        s.mul_(gamma).addcmul_(grad, grad, value=1 - gamma)
        p.addcdiv_(grad, (s + group["eps"]).sqrt(), value=-group["lr"])


class AdaDelta(_BookOptimizer):
    """7.7 AdaDelta (no learning rate): s <- rho s + (1 - rho) g^2;
    g' <- sqrt((delta + eps) / (s + eps)) * g; p <- p - g'; delta <- rho delta + (1 - rho) g'^2,
    eps = 1e-5. The same rule as `torch.optim.Adadelta(lr=1, rho, eps)`."""

    def __init__(self, params, rho: float = 0.9, eps: float = 1e-5):
        check_range("rho", rho, "[0, 1)", "It is the decay rate of both running averages.")
        check_range("eps", eps, ">= 0")
        super().__init__(params, dict(rho=rho, eps=eps))

    def update(self, p, grad, state, group):
        if "s" not in state:
            state["s"], state["delta"] = torch.zeros_like(p), torch.zeros_like(p)
        s, delta, rho, eps = state["s"], state["delta"], group["rho"], group["eps"]
        s.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        g = ((delta + eps) / (s + eps)).sqrt() * grad
        p.sub_(g)
        delta.mul_(rho).addcmul_(g, g, value=1 - rho)


class Adam(_BookOptimizer):
    """7.8 Adam: v <- b1 v + (1 - b1) g; s <- b2 s + (1 - b2) g^2; bias-corrected
    v^ = v / (1 - b1^t), s^ = s / (1 - b2^t); p <- p - lr v^ / (sqrt(s^) + eps), eps = 1e-6.
    The same rule as `torch.optim.Adam(lr, betas, eps)` (whose default eps is 1e-8)."""

    def __init__(self, params, lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-6):
        check_range("lr", lr, "> 0", "It is the learning rate, the size of every step.")
        check_range("beta1", beta1, "[0, 1)", "It is the decay rate of the gradient average.")
        check_range("beta2", beta2, "[0, 1)", "It is the decay rate of the squared-gradient average.")
        check_range("eps", eps, ">= 0")
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps))

    def update(self, p, grad, state, group):
        if "t" not in state:
            state["t"] = torch.zeros((), dtype=torch.float64)  # a tensor: state_dict round trip
            state["v"], state["s"] = torch.zeros_like(p), torch.zeros_like(p)
        state["t"] += 1
        t, b1, b2 = state["t"].item(), group["beta1"], group["beta2"]
        v, s = state["v"], state["s"]
        v.mul_(b1).add_(grad, alpha=1 - b1)
        s.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        v_hat, s_hat = v / (1 - b1**t), s / (1 - b2**t)
        p.addcdiv_(v_hat, s_hat.sqrt() + group["eps"], value=-group["lr"])
