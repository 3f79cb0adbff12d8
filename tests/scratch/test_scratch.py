"""Every from-scratch piece of chapter 3 equals its torch twin."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from d2l_lightning import scratch
from d2l_lightning.models import (
    MLP,
    DropoutMLP,
    DropoutMLPScratch,
    LinearRegression,
    LinearRegressionScratch,
    MLPScratch,
    SoftmaxRegression,
    SoftmaxRegressionScratch,
)
from d2l_lightning.optim import SGD


def test_book_sum_and_gather_examples():
    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert X.sum(dim=0, keepdim=True).tolist() == [[5, 7, 9]]
    assert X.sum(dim=1, keepdim=True).tolist() == [[6], [15]]
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = torch.tensor([0, 2])
    assert torch.allclose(y_hat.gather(1, y.view(-1, 1)), torch.tensor([[0.1], [0.5]]))
    assert (y_hat.argmax(dim=1) == y).float().mean().item() == 0.5  # the book's accuracy 0.5
    assert torch.isclose(scratch.cross_entropy(y_hat, y), -torch.log(torch.tensor([0.1, 0.5])).mean())


def test_softmax_equals_torch_and_rows_sum_to_one():
    X = torch.randn(64, 10) * 5
    P = scratch.softmax(X)
    assert torch.allclose(P, torch.softmax(X, dim=1), atol=1e-6)
    assert torch.allclose(P.sum(dim=1), torch.ones(64))
    # stable for large logits, where exp() alone overflows
    big = torch.tensor([[1000.0, 0.0], [0.0, 1000.0]])
    assert torch.allclose(scratch.softmax(big), torch.eye(2))


def test_cross_entropy_of_softmax_equals_F_cross_entropy():
    logits, y = torch.randn(128, 10), torch.randint(0, 10, (128,))
    assert torch.isclose(scratch.cross_entropy(scratch.softmax(logits), y), F.cross_entropy(logits, y),
                         atol=1e-6)


def test_relu_linreg_squared_loss():
    X = torch.randn(50, 7)
    assert torch.equal(scratch.relu(X), F.relu(X))
    w, b = torch.randn(7, 1), torch.randn(1)
    assert torch.allclose(scratch.linreg(X, w, b), X @ w + b)
    y_hat, y = torch.randn(50, 1), torch.randn(50)
    assert torch.isclose(scratch.squared_loss(y_hat, y), F.mse_loss(y_hat, y.view(-1, 1)) / 2)


def test_l2_penalty_gradient_equals_weight_decay():
    """One step on loss + lambd * ||w||^2/2 == one torch SGD step with weight_decay=lambd."""
    torch.manual_seed(0)
    X, y = torch.randn(10, 5), torch.randn(10, 1)
    w0 = torch.randn(5, 1)
    lambd, lr = 3.0, 0.05
    w1 = w0.clone().requires_grad_()
    (scratch.squared_loss(X @ w1, y) + lambd * scratch.l2_penalty(w1)).backward()
    with torch.no_grad():
        w1 -= lr * w1.grad
    w2 = w0.clone().requires_grad_()
    opt = torch.optim.SGD([w2], lr=lr, weight_decay=lambd)
    scratch.squared_loss(X @ w2, y).backward()
    opt.step()
    assert torch.allclose(w1, w2, atol=1e-6)
    assert torch.isclose(scratch.l2_penalty(w0), (w0**2).sum() / 2)


def test_dropout_edge_cases_and_eval():
    X = torch.randn(4, 8)
    assert torch.equal(scratch.dropout(X, 0.0), X)
    assert torch.equal(scratch.dropout(X, 1.0), torch.zeros_like(X))
    assert torch.equal(scratch.dropout(X, 0.5, training=False), X)
    with pytest.raises(ValueError):
        scratch.dropout(X, 1.5)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics_match_nn_dropout(p):
    """Same keep rate and same expectation as nn.Dropout (the book's randn mask fails this)."""
    torch.manual_seed(0)
    X = torch.ones(200_000)
    ours, theirs = scratch.dropout(X, p), nn.Dropout(p).train()(X)
    assert abs((ours == 0).float().mean().item() - p) < 0.005
    assert abs((theirs == 0).float().mean().item() - p) < 0.005
    assert abs(ours.mean().item() - 1.0) < 0.02 and abs(theirs.mean().item() - 1.0) < 0.02
    kept = ours[ours != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))


def test_scratch_sgd_equals_torch_sgd_over_many_steps():
    torch.manual_seed(0)
    net_a = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    net_b = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    net_b.load_state_dict(net_a.state_dict())
    groups = lambda net: [{"params": net[0].parameters()},  # noqa: E731
                          {"params": net[2].parameters(), "lr": 0.02, "weight_decay": 0.0}]
    opt_a = SGD(groups(net_a), lr=0.1, weight_decay=0.01)
    opt_b = torch.optim.SGD(groups(net_b), lr=0.1, weight_decay=0.01)
    for _ in range(200):
        X, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
        for net, opt in ((net_a, opt_a), (net_b, opt_b)):
            opt.zero_grad()
            F.cross_entropy(net(X), y).backward()
            opt.step()
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-5)
    # state round trip
    opt_c = SGD(groups(net_a), lr=0.3)
    opt_c.load_state_dict(opt_a.state_dict())
    assert opt_c.param_groups[1]["lr"] == 0.02
    with pytest.raises(ValueError):
        SGD(net_a.parameters(), lr=-1)


def _copy(src: dict, dst: nn.Module, mapping: dict[str, str]) -> None:
    state = dst.state_dict()
    for a, b in mapping.items():
        state[b] = src[a].T.contiguous() if src[a].dim() == 2 else src[a]
    dst.load_state_dict(state)


def test_scratch_models_equal_concise_models_with_same_weights():
    X, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    s = SoftmaxRegressionScratch()
    c = SoftmaxRegression()
    _copy(dict(s.named_parameters()), c, {"W": "net.1.weight", "b": "net.1.bias"})
    assert torch.allclose(s(X), c(X), atol=1e-5)
    assert torch.isclose(s.loss(s(X), y), c.loss(c(X), y), atol=1e-5)

    s, c = MLPScratch(), MLP()
    _copy(dict(s.named_parameters()), c, {"W1": "net.1.weight", "b1": "net.1.bias",
                                          "W2": "net.3.weight", "b2": "net.3.bias"})
    assert torch.allclose(s(X), c(X), atol=1e-5)

    s, c = DropoutMLPScratch(), DropoutMLP()
    _copy(dict(s.named_parameters()), c, {"W1": "net.1.weight", "b1": "net.1.bias",
                                          "W2": "net.4.weight", "b2": "net.4.bias",
                                          "W3": "net.7.weight", "b3": "net.7.bias"})
    s.eval(), c.eval()
    assert torch.allclose(s(X), c(X), atol=1e-5)
    s.train()
    assert not torch.allclose(s(X), c(X))  # dropout is active in training only

    s, c = LinearRegressionScratch(num_inputs=3), LinearRegression(num_inputs=3)
    _copy({"w": s.w.data, "b": s.b.data}, c, {"w": "net.weight", "b": "net.bias"})
    Z = torch.randn(8, 3)
    assert torch.allclose(s(Z), c(Z), atol=1e-6)


def test_house_model_lazy_input_init_and_log_rmse():
    from d2l_lightning.models import HousePriceRegression
    from d2l_lightning.models.house import log_rmse

    m = HousePriceRegression(num_hiddens=[8], log_target=True, init_std=None, output_bias=12.0)

    class Data:  # the build hook sizes lazy layers from the data module's example batch
        @staticmethod
        def example_batch():
            return torch.randn(2, 5), torch.ones(2, 1)

    m.configure_model(Data())
    assert m.net[0].weight.shape == (8, 5) and torch.all(m.net[-1].bias == 12.0)
    groups = m.param_groups()
    assert groups[1]["weight_decay"] == 0.0 and all(p.dim() == 1 for p in groups[1]["params"])
    expected = torch.sqrt(((torch.log(torch.tensor([100.0, 1.0])) - torch.log(torch.tensor([10.0, 1.0])))
                           ** 2).mean())
    assert log_rmse(torch.tensor([100.0, 0.5]), torch.tensor([10.0, 1.0])) == pytest.approx(expected.item())
