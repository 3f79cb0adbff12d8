"""8.1 Imperative and symbolic programs, and their PyTorch counterparts.

The book contrasts imperative code (`fancy_func`, run line by line by Python) with a symbolic
program: the whole computation written out as a string first, then compiled (`compile`) and run
(`exec`) at once, which lets a compiler see and optimise all of it. MXNet's `hybridize` turned a
network into such a program. PyTorch's ways:

- `torch.fx.symbolic_trace`: records the network's operations as a graph and generates Python
  source for it, compiled like the book's string (`.code` shows the program);
- `torch.compile`: captures the graph the same way and compiles it to fused kernels (needs a C
  compiler on CPU; the first call compiles, later calls reuse it);
- `torch.export`: the captured graph as a standalone program, for deployment (the book's `export`).

`hybridize(net, mode)` gives each; for the same weights and input they compute the same outputs.
"""

from typing import Literal

import torch
from torch import nn


def add(a, b):
    return a + b


def fancy_func(a, b, c, d):
    """8.1 imperative: each line runs as Python reaches it (e, f and g are held in memory)."""
    e = add(a, b)
    f = add(c, d)
    g = add(e, f)
    return g


def add_str() -> str:
    return """
def add(a, b):
    return a + b
"""


def fancy_func_str() -> str:
    return """
def fancy_func(a, b, c, d):
    e = add(a, b)
    f = add(c, d)
    g = add(e, f)
    return g
"""


def evoke_str() -> str:
    """8.1 symbolic: the whole program as one string; it keeps its result in `result` (the book
    prints it) so that a caller can read it back."""
    return add_str() + fancy_func_str() + """
result = fancy_func(1, 2, 3, 4)
"""


def run_program(prog: str):
    """Compiles the program string as a whole (`compile(prog, '', 'exec')`), runs it, and returns
    its `result` (the book's program prints 10)."""
    namespace: dict = {}
    exec(compile(prog, "", "exec"), namespace)
    return namespace["result"]


def book_net() -> nn.Sequential:
    """8.1's small network: 512 inputs -> 256 -> 128 (ReLU) -> 2."""
    return nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 2))


def hybridize(net: nn.Module, mode: Literal["fx", "compile", "export"] = "fx",
              example: torch.Tensor | None = None) -> nn.Module:
    """The network as a symbolic program (see the module docstring); `export` needs an example
    input to trace with."""
    if mode == "fx":
        return torch.fx.symbolic_trace(net)
    if mode == "compile":
        return torch.compile(net)
    if mode == "export":
        if example is None:
            raise ValueError("hybridize(mode='export') needs an example input")
        return torch.export.export(net, (example,)).module()
    raise ValueError(f"unknown mode {mode!r}; use fx, compile or export")
