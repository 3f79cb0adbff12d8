"""10.8 one-dimensional cross-correlation against the book's printed values and against
`F.conv1d` (values and gradients), and the "multi-channel 1-D = single-channel 2-D" remark."""

import pytest
import torch
import torch.nn.functional as F

from d2l_lightning.scratch import corr1d, corr1d_multi_in, corr2d


def test_corr1d_book_value_and_conv1d():
    X, K = torch.tensor([0, 1, 2, 3, 4, 5, 6]), torch.tensor([1, 2])
    assert torch.equal(corr1d(X, K), torch.tensor([2.0, 5.0, 8.0, 11.0, 14.0, 17.0]))
    torch.manual_seed(0)
    X, K = torch.randn(11), torch.randn(4)
    # (torch.allclose, not torch.testing.assert_close: its first call imports for seconds)
    assert torch.allclose(corr1d(X, K), F.conv1d(X[None, None], K[None, None])[0, 0], atol=1e-6)


def test_corr1d_multi_in_book_value_conv1d_and_corr2d():
    X = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], [2, 3, 4, 5, 6, 7, 8]])
    K = torch.tensor([[1, 2], [3, 4], [-1, -3]])
    assert torch.equal(corr1d_multi_in(X, K), torch.tensor([2.0, 8.0, 14.0, 20.0, 26.0, 32.0]))
    # figure 10.6: the same as a 2-D cross-correlation with a kernel as tall as the input
    assert torch.equal(corr2d(X, K)[0], corr1d_multi_in(X, K))
    torch.manual_seed(0)
    X, K = torch.randn(5, 12, requires_grad=True), torch.randn(5, 3, requires_grad=True)
    ours = corr1d_multi_in(X, K)
    ref = F.conv1d(X[None], K[None])[0, 0]
    assert torch.allclose(ours, ref, atol=1e-5)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(ours, (X, K), g), torch.autograd.grad(ref, (X, K), g)):
        assert torch.allclose(a, b, atol=1e-5)


def test_shapes_that_do_not_fit_are_errors():
    with pytest.raises(ValueError, match="wider than the input"):
        corr1d(torch.ones(2), torch.ones(3))
    with pytest.raises(ValueError, match="channels"):
        corr1d_multi_in(torch.ones(2, 5), torch.ones(3, 2))
