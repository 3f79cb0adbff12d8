"""4.1 Model construction: the book's hand-written blocks, as plain `nn.Module`s (not trained by a
config; the trainable multilayer perceptron of 3.10 is `d2l_lightning.models.mlp.MLP`).

- `MLP`: a block with its layers as attributes and its own `forward`.
- `MySequential`: what `nn.Sequential` does, by hand (children in `_modules`, in order).
- `FancyMLP`: a constant (untrained) weight, a layer used twice, and Python control flow in
  `forward`.
- `NestMLP`: a block holding a `Sequential`; `nested_net()` nests it with `FancyMLP`.
- `module_list_net()` / `module_dict_net()`: the book's `nn.ModuleList` / `nn.ModuleDict` use
  (containers that register their modules but define no `forward`).
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MLP(nn.Module):
    """4.1: hidden layer of 256 with ReLU, output layer of 10, for flattened 28x28 images."""

    def __init__(self, num_inputs: int = 784, num_hiddens: int = 256, num_outputs: int = 10):
        super().__init__()
        self.hidden = nn.Linear(num_inputs, num_hiddens)
        self.act = nn.ReLU()
        self.output = nn.Linear(num_hiddens, num_outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.hidden(x)))


class MySequential(nn.Module):
    """4.1: modules given one by one (named "0", "1", ...) or as one `OrderedDict` of names to
    modules; `forward` runs them in the order they were added."""

    def __init__(self, *args: nn.Module | OrderedDict):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def forward(self, x: Tensor) -> Tensor:
        # _modules is an OrderedDict: the order of insertion is the order of the layers
        for module in self._modules.values():
            x = module(x)
        return x


class FancyMLP(nn.Module):
    """4.1: x -> linear -> relu(x @ rand_weight + 1) -> the same linear again; then halve x while
    its norm is above 1, multiply by 10 if it ended below 0.8, and return the sum (a scalar).

    `rand_weight` (20x20, uniform on [0, 1)) is a constant: it is a buffer, not a parameter, so
    no optimizer updates it (the book: `requires_grad=False`); being a buffer it still moves with
    `.to(device)` and is saved in the state dict."""

    def __init__(self, num_features: int = 20):
        super().__init__()
        self.register_buffer("rand_weight", torch.rand(num_features, num_features))
        self.linear = nn.Linear(num_features, num_features)

    def forward(self, x: Tensor) -> Tensor:
        x = self.linear(x)
        x = F.relu(x @ self.rand_weight + 1)
        x = self.linear(x)  # the same layer twice: its parameters are shared
        while x.norm().item() > 1:
            x = x / 2
        if x.norm().item() < 0.8:
            x = x * 10
        return x.sum()


class NestMLP(nn.Module):
    """4.1: Linear(40, 30) and ReLU inside a `Sequential` held by the block."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(40, 30), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def nested_net() -> nn.Sequential:
    """4.1: `NestMLP()`, `Linear(30, 20)`, `FancyMLP()` in a `Sequential`; input (n, 40), output a scalar."""
    return nn.Sequential(NestMLP(), nn.Linear(30, 20), FancyMLP())


def module_list_net() -> nn.ModuleList:
    """4.1: `nn.ModuleList([Linear(784, 256), ReLU()])` with `Linear(256, 10)` appended: indexable
    like a list, and its modules' parameters are registered (a plain list's would not be)."""
    net = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])
    net.append(nn.Linear(256, 10))
    return net


def module_dict_net() -> nn.ModuleDict:
    """4.1: `nn.ModuleDict({"linear": ..., "act": ...})` with `net["output"]` added by key."""
    net = nn.ModuleDict({"linear": nn.Linear(784, 256), "act": nn.ReLU()})
    net["output"] = nn.Linear(256, 10)
    return net
