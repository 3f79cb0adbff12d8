"""Chapter 3 multilayer perceptrons: 3.9 scratch, 3.10 concise, 3.13 with dropout (both ways)."""

import torch
from torch import Tensor, nn

from d2l_lightning.core import Classifier
from d2l_lightning.errors import check_range
from d2l_lightning.scratch import dropout, relu

_DROPOUT_HINT = "With 1 every unit is dropped and nothing can be learned."


def normal_init_(module: nn.Module, std: float = 0.01) -> None:
    """The book's concise MLPs draw every parameter, biases included, from N(0, std^2)."""
    for p in module.parameters():
        nn.init.normal_(p, std=std)


class MLPScratch(Classifier):
    """3.9: one hidden layer of `num_hiddens` units with our own ReLU; W ~ N(0, sigma^2), b = 0;
    `nn.CrossEntropyLoss` as the book."""

    def __init__(self, num_inputs: int = 784, num_hiddens: int = 256, num_outputs: int = 10,
                 sigma: float = 0.01, **kwargs):
        super().__init__(num_classes=num_outputs, **kwargs)
        self.num_inputs = num_inputs
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        self.W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs) * sigma)
        self.b2 = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: Tensor) -> Tensor:
        H = relu(X.reshape(-1, self.num_inputs) @ self.W1 + self.b1)
        return H @ self.W2 + self.b2


class MLP(Classifier):
    """3.10: flatten, Linear(784, 256), ReLU, Linear(256, 10); every parameter ~ N(0, 0.01^2)."""

    def __init__(self, num_inputs: int = 784, num_hiddens: int = 256, num_outputs: int = 10,
                 init_std: float = 0.01, **kwargs):
        super().__init__(num_classes=num_outputs, **kwargs)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens), nn.ReLU(),
                                 nn.Linear(num_hiddens, num_outputs))
        normal_init_(self.net, init_std)

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)


class DropoutMLPScratch(Classifier):
    """3.13 scratch: two hidden layers (256, 256) with our inverted dropout after each (0.2, 0.5),
    active only in training (`self.training` is the book's `is_training`)."""

    def __init__(self, num_inputs: int = 784, num_hiddens1: int = 256, num_hiddens2: int = 256,
                 num_outputs: int = 10, dropout1: float = 0.2, dropout2: float = 0.5,
                 sigma: float = 0.01, **kwargs):
        super().__init__(num_classes=num_outputs, **kwargs)
        check_range("dropout1", dropout1, "[0, 1)", _DROPOUT_HINT)
        check_range("dropout2", dropout2, "[0, 1)", _DROPOUT_HINT)
        self.num_inputs, self.dropout1, self.dropout2 = num_inputs, dropout1, dropout2
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens1) * sigma)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens1))
        self.W2 = nn.Parameter(torch.randn(num_hiddens1, num_hiddens2) * sigma)
        self.b2 = nn.Parameter(torch.zeros(num_hiddens2))
        self.W3 = nn.Parameter(torch.randn(num_hiddens2, num_outputs) * sigma)
        self.b3 = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: Tensor) -> Tensor:
        H1 = dropout(relu(X.reshape(-1, self.num_inputs) @ self.W1 + self.b1), self.dropout1, self.training)
        H2 = dropout(relu(H1 @ self.W2 + self.b2), self.dropout2, self.training)
        return H2 @ self.W3 + self.b3


class DropoutMLP(Classifier):
    """3.13 concise: the same network with `nn.Dropout`; every parameter ~ N(0, 0.01^2)."""

    def __init__(self, num_inputs: int = 784, num_hiddens1: int = 256, num_hiddens2: int = 256,
                 num_outputs: int = 10, dropout1: float = 0.2, dropout2: float = 0.5,
                 init_std: float = 0.01, **kwargs):
        super().__init__(num_classes=num_outputs, **kwargs)
        check_range("dropout1", dropout1, "[0, 1)", _DROPOUT_HINT)
        check_range("dropout2", dropout2, "[0, 1)", _DROPOUT_HINT)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(num_inputs, num_hiddens1), nn.ReLU(), nn.Dropout(dropout1),
            nn.Linear(num_hiddens1, num_hiddens2), nn.ReLU(), nn.Dropout(dropout2),
            nn.Linear(num_hiddens2, num_outputs))
        normal_init_(self.net, init_std)

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)
