"""3.8's activation functions and their derivatives, the derivatives taken by autograd as the book
does (`y.sum().backward()`, then `x.grad`): ReLU, sigmoid and tanh."""

import torch
from torch import Tensor

ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def activation_and_derivative(name: str, x: Tensor) -> tuple[Tensor, Tensor]:
    """The activation `name` at the points x and its derivative there (autograd: the activations
    are elementwise, so the gradient of the sum is the derivative at each point). At 0, where ReLU
    has no derivative, autograd gives 0 (the book's plot shows the same)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {sorted(ACTIVATIONS)}")
    x = x.detach().clone().requires_grad_(True)
    y = ACTIVATIONS[name](x)
    y.sum().backward()
    return y.detach(), x.grad
