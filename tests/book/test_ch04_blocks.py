"""4.1 Model construction: the book's blocks behave as it shows."""

from collections import OrderedDict

import torch
from torch import nn

from d2l_lightning.models.blocks import (
    MLP,
    FancyMLP,
    MySequential,
    module_dict_net,
    module_list_net,
    nested_net,
)


def test_mlp_and_my_sequential_equal_nn_sequential():
    X = torch.rand(2, 784)
    assert MLP()(X).shape == (2, 10)
    layers = [nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)]
    mine, theirs = MySequential(*layers), nn.Sequential(*layers)
    assert torch.equal(mine(X), theirs(X)) and mine(X).shape == (2, 10)
    assert [n for n, _ in mine.named_children()] == ["0", "1", "2"]
    named = MySequential(OrderedDict(hidden=layers[0], act=layers[1], output=layers[2]))
    assert [n for n, _ in named.named_children()] == ["hidden", "act", "output"]
    assert torch.equal(named(X), theirs(X))
    assert len(list(mine.parameters())) == 4  # registered: an optimizer sees them


def test_fancy_mlp_constant_weight_is_not_trained_and_the_norm_loop_holds():
    torch.manual_seed(0)
    net = FancyMLP()
    X = torch.rand(2, 20)
    y = net(X)
    assert y.dim() == 0
    # the loop halves x until |x| <= 1 (so |x| > 1/2 after it), then x10 if |x| < 0.8
    x = net.linear(torch.relu(net.linear(X) @ net.rand_weight + 1))
    assert x.norm() > 1  # the loop runs for this input
    while x.norm() > 1:
        x = x / 2
    assert 0.5 < x.norm() <= 1
    assert torch.isclose(y, (x * 10 if x.norm() < 0.8 else x).sum())
    before = net.rand_weight.clone()
    assert [n for n, _ in net.named_parameters()] == ["linear.weight", "linear.bias"]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    w = net.linear.weight.detach().clone()
    net(X).backward()
    opt.step()
    assert torch.equal(net.rand_weight, before) and not torch.equal(net.linear.weight, w)
    assert "rand_weight" in net.state_dict()


def test_nested_blocks_and_containers():
    net = nested_net()
    assert net(torch.rand(2, 40)).dim() == 0
    assert [type(m).__name__ for m in net] == ["NestMLP", "Linear", "FancyMLP"]
    lst = module_list_net()
    assert isinstance(lst[-1], nn.Linear) and lst[-1].out_features == 10 and len(lst) == 3
    x = torch.rand(2, 784)
    for layer in lst:
        x = layer(x)
    assert x.shape == (2, 10)
    assert len(list(lst.parameters())) == 4
    dct = module_dict_net()
    assert list(dct.keys()) == ["linear", "act", "output"] and dct["output"].out_features == 10
    assert len(list(dct.parameters())) == 4
