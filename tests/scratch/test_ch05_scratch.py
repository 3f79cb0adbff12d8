"""Chapter 5 scratch pieces against the book's printed values (the values the book prints in 5.1-5.4) and
against their torch twins (`F.conv2d`, `F.max_pool2d`, `F.avg_pool2d`, `nn.BatchNorm1d/2d`)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from d2l_lightning.datamodules.edge import edge_image
from d2l_lightning.scratch import (
    BatchNorm,
    Conv2D,
    batch_norm,
    corr2d,
    corr2d_multi_in,
    corr2d_multi_in_out,
    corr2d_multi_in_out_1x1,
    pool2d,
)

X3 = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])


def test_corr2d_book_value_and_conv2d():
    assert torch.equal(corr2d(X3, torch.tensor([[0, 1], [2, 3]])), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))
    torch.manual_seed(0)
    X, K = torch.randn(7, 9), torch.randn(3, 2)
    torch.testing.assert_close(corr2d(X, K), F.conv2d(X[None, None], K[None, None])[0, 0])


def test_edge_detection():
    Y = corr2d(edge_image(), torch.tensor([[1.0, -1.0]]))
    assert Y.shape == (6, 7)
    assert all(torch.equal(row, torch.tensor([0.0, 1, 0, 0, 0, -1, 0])) for row in Y)
    # a 1x2 kernel cannot see vertical change: the transposed image gives no edges
    assert not corr2d(edge_image().t(), torch.tensor([[1.0, -1.0]])).any()


def test_conv2d_module_and_gradients():
    torch.manual_seed(0)
    layer = Conv2D((2, 3))
    X = torch.randn(5, 6)
    ref = F.conv2d(X[None, None], layer.weight[None, None], layer.bias)[0, 0]
    out = layer(X)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    w = layer.weight.detach().clone().requires_grad_()
    F.conv2d(X[None, None], w[None, None]).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad)
    assert layer.bias.grad.item() == pytest.approx(4 * 4)


def test_multi_channel_book_values_and_conv2d():
    X = torch.stack([X3, X3 + 1])
    K = torch.tensor([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    assert torch.equal(corr2d_multi_in(X, K), torch.tensor([[56.0, 72.0], [104.0, 120.0]]))
    K3 = torch.stack([K, K + 1, K + 2])
    assert K3.shape == (3, 2, 2, 2)
    out = corr2d_multi_in_out(X, K3)
    assert torch.equal(out, torch.tensor([[[56.0, 72], [104, 120]], [[76, 100], [148, 172]],
                                          [[96, 128], [192, 224]]]))
    torch.testing.assert_close(out, F.conv2d(X[None].float(), K3.float())[0])
    torch.manual_seed(0)
    X, K = torch.rand(3, 3, 3), torch.rand(2, 3, 1, 1)
    assert (corr2d_multi_in_out_1x1(X, K) - corr2d_multi_in_out(X, K)).norm().item() < 1e-6
    torch.testing.assert_close(corr2d_multi_in_out_1x1(X, K), F.conv2d(X[None], K)[0])


def test_pool2d_book_values_and_torch():
    assert torch.equal(pool2d(X3, (2, 2)), torch.tensor([[4.0, 5.0], [7.0, 8.0]]))
    assert torch.equal(pool2d(X3, (2, 2), "avg"), torch.tensor([[2.0, 3.0], [5.0, 6.0]]))
    torch.manual_seed(0)
    X = torch.randn(6, 7)
    for size in ((2, 2), (3, 2), (1, 4)):
        torch.testing.assert_close(pool2d(X, size, "max"), F.max_pool2d(X[None, None], size, stride=1)[0, 0])
        torch.testing.assert_close(pool2d(X, size, "avg"), F.avg_pool2d(X[None, None], size, stride=1)[0, 0])
    with pytest.raises(ValueError):
        pool2d(X, (2, 2), "min")


def test_nn_pooling_padding_stride_book_values():
    X = torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)
    assert nn.MaxPool2d(3)(X).tolist() == [[[[10.0]]]]
    assert nn.MaxPool2d(3, padding=1, stride=2)(X).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert nn.MaxPool2d((2, 4), padding=(1, 2), stride=(2, 3))(X).tolist() == \
        [[[[1.0, 3.0], [9.0, 11.0], [13.0, 15.0]]]]
    X2 = torch.cat((X, X + 1), dim=1)
    assert nn.MaxPool2d(3, padding=1, stride=2)(X2).tolist() == \
        [[[[5.0, 7.0], [13.0, 15.0]], [[6.0, 8.0], [14.0, 16.0]]]]


@pytest.mark.parametrize("shape, torch_bn", [((16, 5), nn.BatchNorm1d), ((8, 3, 5, 4), nn.BatchNorm2d)])
def test_batch_norm_matches_torch_in_train_and_eval(shape, torch_bn):
    """Same inputs, same momentum convention: the book's momentum 0.9 weights the old moving value,
    torch's momentum 0.1 the new batch value; torch starts the moving variance at 1 and feeds it the
    unbiased batch variance, which our module does with the matching options."""
    torch.manual_seed(0)
    c = shape[1]
    ours = BatchNorm(c, num_dims=len(shape), momentum=0.9, moving_var_init=1.0, unbiased_moving_var=True)
    ref = torch_bn(c, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        g, b = torch.rand(c) + 0.5, torch.randn(c)
        ours.gamma.copy_(g.reshape(ours.gamma.shape))
        ours.beta.copy_(b.reshape(ours.beta.shape))
        ref.weight.copy_(g)
        ref.bias.copy_(b)
    for step in range(4):
        X = torch.randn(shape) * (step + 1) + step
        X1, X2 = X.clone().requires_grad_(), X.clone().requires_grad_()
        y1, y2 = ours(X1), ref(X2)
        torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-5)
        w = torch.randn(shape)
        (y1 * w).sum().backward()
        (y2 * w).sum().backward()
        torch.testing.assert_close(X1.grad, X2.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.moving_mean.flatten(), ref.running_mean)
    torch.testing.assert_close(ours.moving_var.flatten(), ref.running_var)
    torch.testing.assert_close(ours.gamma.grad.flatten(), ref.weight.grad, rtol=1e-4, atol=1e-4)
    ours.eval()
    ref.eval()
    X = torch.randn(shape)
    torch.testing.assert_close(ours(X), ref(X), rtol=1e-4, atol=1e-5)
    before = ours.moving_mean.clone()
    ours(X)
    assert torch.equal(ours.moving_mean, before)  # eval never updates the moving statistics


def test_batch_norm_book_convention():
    torch.manual_seed(0)
    X = torch.randn(10, 3, 4, 4) * 2 + 1
    bn = BatchNorm(3, num_dims=4)  # book: moving stats from 0, momentum 0.9, biased variance
    Y = bn(X)
    mean = X.mean(dim=(0, 2, 3))
    var = X.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(bn.moving_mean.flatten(), 0.1 * mean)
    torch.testing.assert_close(bn.moving_var.flatten(), 0.1 * var)
    # training output: zero mean, unit variance per channel (gamma 1, beta 0)
    torch.testing.assert_close(Y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(Y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
    # the functional form returns the new moving statistics and leaves its inputs alone
    mm, mv = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    _, mm2, mv2 = batch_norm(True, X, torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1), mm, mv, 1e-5, 0.9)
    assert mm.abs().sum() == 0 and torch.allclose(mm2.flatten(), 0.1 * mean)
    assert torch.allclose(mv2.flatten(), 0.9 + 0.1 * var)
    with pytest.raises(ValueError):
        batch_norm(True, torch.randn(2, 3, 4), mm, mv, mm, mv, 1e-5, 0.9)
    # moving statistics are buffers: they are saved in the state dict
    assert {"moving_mean", "moving_var", "gamma", "beta"} == set(bn.state_dict())
