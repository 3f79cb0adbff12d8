"""Chapter 2.3 and 4 behaviour the book states (the autograd results printed in 2.3, the module
examples of 4.1-4.5): autograd, module
construction, parameter access, initialisation helpers, parameter sharing, custom layers, and
saving/loading state dicts, also through the checkpoints our runs write."""

import pytest
import torch
from torch import nn

from d2l_lightning.layers import CenteredLayer, DictDense, ListDense, book_custom_init_, init_weights_


# --- 2.3 autograd ----------------------------------------------------------------------------------
def test_autograd_book_values():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    assert x.is_leaf and not y.is_leaf and y.grad_fn is not None and x.grad_fn is None
    assert torch.equal(z, torch.full((2, 2), 27.0)) and out.item() == 27.0
    out.backward()
    assert torch.equal(x.grad, torch.full((2, 2), 4.5))
    (x * 1).sum().backward()  # gradients accumulate ...
    assert torch.equal(x.grad, torch.full((2, 2), 5.5))
    x.grad.zero_()  # ... until zeroed
    x.sum().backward()
    assert torch.equal(x.grad, torch.ones(2, 2))

    x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    z = (2 * x).view(2, 2)
    z.backward(torch.tensor([[1.0, 0.1], [0.01, 0.001]]))  # non-scalar: d(sum(v * z))/dx
    torch.testing.assert_close(x.grad, torch.tensor([2.0, 0.2, 0.02, 0.002]))


def test_no_grad_and_data_are_not_tracked():
    x = torch.tensor(1.0, requires_grad=True)
    y1 = x**2
    with torch.no_grad():
        y2 = x**3
    y3 = y1 + y2
    assert (x.requires_grad, y1.requires_grad, y2.requires_grad, y3.requires_grad) == (True, True, False, True)
    y3.backward()
    assert x.grad.item() == 2.0  # not 2 + 3 = 5
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        y2.backward()
    x = torch.ones(1, requires_grad=True)
    y = 2 * x
    x.data *= 100  # changes the value, not the graph
    y.backward()
    assert x.tolist() == [100.0] and x.grad.tolist() == [2.0]


# --- 4.1 / 4.2 modules and parameters --------------------------------------------------------------
def test_parameter_names_and_registration():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    assert [(n, tuple(p.shape)) for n, p in net.named_parameters()] == [
        ("0.weight", (3, 4)), ("0.bias", (3,)), ("2.weight", (1, 3)), ("2.bias", (1,))]

    class MyModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight1 = nn.Parameter(torch.rand(20, 20))
            self.weight2 = torch.rand(20, 20)

    assert [n for n, _ in MyModel().named_parameters()] == ["weight1"]
    # ModuleList / ModuleDict register their modules (a plain list would hide them)
    assert len(list(nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)]).parameters())) == 4
    assert len(list(nn.ModuleDict({"a": nn.Linear(2, 2)}).parameters())) == 2


def test_init_helpers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 1))
    init_weights_(net, "normal", std=0.01)
    assert abs(net[0].weight.std().item() - 0.01) < 5e-4 and abs(net[0].weight.mean().item()) < 5e-4
    assert net[0].bias.abs().sum() == 0
    init_weights_(net, "constant", value=3.0)
    assert torch.equal(net[2].weight, torch.full((1, 300), 3.0))
    init_weights_(net, "xavier")
    bound = (6 / (400 + 300)) ** 0.5
    assert 0.95 * bound < net[0].weight.abs().max() <= bound
    default = nn.Linear(3, 3)
    before = default.weight.clone()
    assert torch.equal(init_weights_(default, "default").weight, before)
    with pytest.raises(ValueError):
        init_weights_(net, "orthogonal")
    # the book's custom init: zero with probability 1/2, else |w| in [5, 10]
    w = book_custom_init_(torch.empty(100_000))
    nonzero = w[w != 0]
    assert abs((w == 0).float().mean().item() - 0.5) < 0.01
    assert nonzero.abs().min() >= 5 and nonzero.abs().max() <= 10
    # editing .data (the book adds 1 to every bias) is not tracked
    net[0].bias.data += 1
    assert torch.equal(net[0].bias.detach(), torch.ones(300))


def test_parameter_sharing_gradients_add_up():
    linear = nn.Linear(1, 1, bias=False)
    net = nn.Sequential(linear, linear)
    assert len(list(net.named_parameters())) == 1 and id(net[0]) == id(net[1])
    assert id(net[0].weight) == id(net[1].weight)
    nn.init.constant_(linear.weight, 3)
    y = net(torch.ones(1, 1)).sum()
    assert y.item() == 9.0
    y.backward()
    assert linear.weight.grad.item() == 6.0  # 3 + 3: each use adds its gradient


# --- 4.4 custom layers -----------------------------------------------------------------------------
def test_centered_layer():
    assert CenteredLayer()(torch.tensor([1.0, 2, 3, 4, 5])).tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    net = nn.Sequential(nn.Linear(8, 128), CenteredLayer())
    assert abs(net(torch.rand(4, 8)).mean().item()) < 1e-6
    assert list(CenteredLayer().parameters()) == []


def test_parameter_list_and_dict_layers():
    torch.manual_seed(0)
    dense = ListDense()
    assert [tuple(p.shape) for p in dense.parameters()] == [(4, 4), (4, 4), (4, 4), (4, 1)]
    dense.append(1, 2)
    assert len(dense.params) == 5 and dense(torch.ones(1, 4)).shape == (1, 2)
    d = DictDense()
    d.update({"linear3": (4, 2)})
    assert sorted(n for n, _ in d.named_parameters()) == ["params.linear1", "params.linear2", "params.linear3"]
    x = torch.ones(1, 4)
    assert [tuple(d(x, c).shape) for c in ("linear1", "linear2", "linear3")] == [(1, 4), (1, 1), (1, 2)]
    nested = nn.Sequential(d, ListDense())
    assert nested(x).shape == (1, 1)
    assert len(list(nested.parameters())) == 3 + 4
    # gradients reach every parameter used
    nested(x).sum().backward()
    assert d.params["linear1"].grad is not None and d.params["linear2"].grad is None


# --- 4.5 saving and loading ------------------------------------------------------------------------
def test_save_and_load_tensors_and_state_dicts(tmp_path):
    x, y = torch.ones(3), torch.zeros(4)
    torch.save(x, tmp_path / "x.pt")
    torch.save([x, y], tmp_path / "xy.pt")
    torch.save({"x": x, "y": y}, tmp_path / "xy_dict.pt")
    assert torch.equal(torch.load(tmp_path / "x.pt"), x)
    assert all(torch.equal(a, b) for a, b in zip(torch.load(tmp_path / "xy.pt"), [x, y]))
    assert torch.equal(torch.load(tmp_path / "xy_dict.pt")["y"], y)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(3, 2)
            self.act = nn.ReLU()
            self.output = nn.Linear(2, 1)

        def forward(self, x):
            return self.output(self.act(self.hidden(x)))

    net = MLP()
    assert list(net.state_dict()) == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    groups = opt.state_dict()["param_groups"][0]
    assert groups["lr"] == 0.001 and groups["momentum"] == 0.9
    X = torch.randn(2, 3)
    Y = net(X)
    torch.save(net.state_dict(), tmp_path / "net.pt")
    net2 = MLP()
    net2.load_state_dict(torch.load(tmp_path / "net.pt"))
    assert (net2(X) == Y).all()
