"""5.2 Padding and stride: the four output shapes the book prints for an 8x8 input."""

import pytest
import torch
from torch import nn

from d2l_lightning.scratch.conv import comp_conv2d


@pytest.mark.parametrize("conv, shape", [
    (nn.Conv2d(1, 1, kernel_size=3, padding=1), (8, 8)),
    (nn.Conv2d(1, 1, kernel_size=(5, 3), padding=(2, 1)), (8, 8)),
    (nn.Conv2d(1, 1, kernel_size=3, padding=1, stride=2), (4, 4)),
    (nn.Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)), (2, 2)),
])
def test_the_books_output_shapes(conv, shape):
    X = torch.rand(8, 8)
    assert comp_conv2d(conv, X).shape == shape
    # and the formula floor((n - k + 2p + s) / s) per dimension
    k, p, s = conv.kernel_size, conv.padding, conv.stride
    assert shape == tuple((8 - k[i] + 2 * p[i] + s[i]) // s[i] for i in range(2))
