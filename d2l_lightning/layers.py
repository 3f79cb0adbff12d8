"""Chapter 4 building blocks as library pieces: custom layers (4.4), initialisation helpers
(4.2) that models and configs use, and small layers chapter 5 shares (`GlobalAvgPool2d`).

Parameter sharing (4.2) needs no helper: reusing one module object in a network shares its
parameters, and their gradients add up (tests/test_layers.py checks the book's 3 + 3 = 6).
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CenteredLayer(nn.Module):
    """4.4: a layer without parameters that subtracts the mean of its input."""

    def forward(self, x: Tensor) -> Tensor:
        return x - x.mean()


class ListDense(nn.Module):
    """4.4 `MyDense`/`MyListDense`: a chain of matrix products whose weights live in an
    `nn.ParameterList` (book: three 4x4 matrices and a 4x1 one, all ~ N(0, 1))."""

    def __init__(self, sizes: tuple[int, ...] = (4, 4, 4, 4, 1)):
        super().__init__()
        self.params = nn.ParameterList(nn.Parameter(torch.randn(a, b)) for a, b in zip(sizes, sizes[1:]))

    def append(self, rows: int, cols: int) -> None:
        """Adds one more weight at the end (the book's `self.params.append(...)`)."""
        self.params.append(nn.Parameter(torch.randn(rows, cols)))

    def forward(self, x: Tensor) -> Tensor:
        for w in self.params:
            x = x @ w
        return x


class DictDense(nn.Module):
    """4.4 `MyDictDense`: weights in an `nn.ParameterDict`; `forward(x, choice)` picks one
    (book: linear1 4x4, linear2 4x1, and linear3 4x2 added with `update`)."""

    def __init__(self, shapes: dict[str, tuple[int, int]] | None = None):
        super().__init__()
        shapes = shapes or {"linear1": (4, 4), "linear2": (4, 1)}
        self.params = nn.ParameterDict({k: nn.Parameter(torch.randn(*s)) for k, s in shapes.items()})

    def update(self, shapes: dict[str, tuple[int, int]]) -> None:
        self.params.update({k: nn.Parameter(torch.randn(*s)) for k, s in shapes.items()})

    def forward(self, x: Tensor, choice: str = "linear1") -> Tensor:
        return x @ self.params[choice]


class GlobalAvgPool2d(nn.Module):
    """5.8: average over the whole feature map, (n, c, h, w) -> (n, c, 1, 1)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, 1)


# --- 4.2 initialisation ---------------------------------------------------------------------------
InitScheme = Literal["default", "normal", "constant", "xavier", "book_custom"]


@torch.no_grad()
def book_custom_init_(tensor: Tensor) -> Tensor:
    """4.2 `init_weight_`: each entry is 0 with probability 1/2, else uniform on [-10, -5] U [5, 10]."""
    tensor.uniform_(-10, 10)
    tensor.mul_((tensor.abs() >= 5).to(tensor.dtype))
    return tensor


def init_weights_(module: nn.Module, scheme: InitScheme = "default", std: float = 0.01,
                  value: float = 0.0) -> nn.Module:
    """Initialises the weights of every linear and convolutional layer of `module` (biases become
    0) the book's ways (4.2): `normal` ~ N(0, std^2), `constant` = value, `xavier` (uniform,
    `nn.init.xavier_uniform_`), `book_custom` (`book_custom_init_`); `default` leaves PyTorch's
    initialisation alone. Normalisation layers keep gamma = 1, beta = 0."""
    if scheme == "default":
        return module
    fill = {
        "normal": lambda w: nn.init.normal_(w, mean=0.0, std=std),
        "constant": lambda w: nn.init.constant_(w, value),
        "xavier": nn.init.xavier_uniform_,
        "book_custom": book_custom_init_,
    }.get(scheme)
    if fill is None:
        raise ValueError(f"unknown init scheme {scheme!r}; use one of {InitScheme.__args__}")
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            fill(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
