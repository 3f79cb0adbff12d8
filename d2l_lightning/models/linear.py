"""Chapter 3 linear models: linear regression (3.2 scratch, 3.3 concise, also the 3.11 polynomial
fits), weight decay (3.12) and softmax regression (3.6 scratch, 3.7 concise)."""

from typing import Literal

import torch
from torch import Tensor, nn

from d2l_lightning.core import Classifier, Regressor
from d2l_lightning.scratch import cross_entropy, l2_penalty, linreg, softmax, squared_loss


class _ReportsWeights:
    """Linear regressors log what they learned: ||w||, and when the data module knows the true
    parameters (synthetic data), the largest error in w and in b. Users define
    `weight_and_bias() -> (w, b)`."""

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        w, b = (t.detach().reshape(-1) for t in self.weight_and_bias())
        self.log("val/w_norm", w.norm())
        dm = self.trainer.datamodule
        true_w, true_b = getattr(dm, "true_w", None), getattr(dm, "true_b", None)
        if true_w is not None and len(true_w) == len(w):
            self.log("val/w_err", (w.cpu() - torch.as_tensor(true_w)).abs().max())
            self.log("val/b_err", (b.cpu() - true_b).abs().max())


class LinearRegressionScratch(_ReportsWeights, Regressor):
    """3.2: w ~ N(0, sigma^2), b = 0, squared loss (y_hat - y)^2 / 2, trained with the scratch SGD."""

    def __init__(self, num_inputs: int = 2, sigma: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.w = nn.Parameter(torch.randn(num_inputs, 1) * sigma)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, X: Tensor) -> Tensor:
        return linreg(X, self.w, self.b)

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return squared_loss(y_hat, y)

    def weight_and_bias(self):
        return self.w, self.b


class LinearRegression(_ReportsWeights, Regressor):
    """3.3: `nn.Linear(num_inputs, 1)` and `nn.MSELoss`. `init_std`: weights ~ N(0, init_std^2),
    bias 0, as 3.3 (0.01); `null` keeps PyTorch's default init (3.11's polynomial fits, chapter 7).
    `loss: squared` uses the book's squared loss (y_hat - y)^2 / 2 instead of the MSE (chapter 7's
    concise runs compute `MSELoss() / 2`)."""

    def __init__(self, num_inputs: int = 2, init_std: float | None = 0.01,
                 loss: Literal["mse", "squared"] = "mse", **kwargs):
        super().__init__(**kwargs)
        self.net = nn.Linear(num_inputs, 1)
        self.loss_kind = loss
        if init_std is not None:
            nn.init.normal_(self.net.weight, std=init_std)
            nn.init.zeros_(self.net.bias)

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return squared_loss(y_hat, y) if self.loss_kind == "squared" else super().loss(y_hat, y)

    def weight_and_bias(self):
        return self.net.weight, self.net.bias


class WeightDecayScratch(LinearRegressionScratch):
    """3.12 scratch: loss = squared loss + lambd * ||w||^2 / 2 (the bias is not penalised).
    `train/loss` logs the data term alone, so runs with different lambd compare; the penalty is
    logged as `train/l2_penalty`."""

    def __init__(self, num_inputs: int = 200, lambd: float = 0.0, sigma: float = 1.0, **kwargs):
        super().__init__(num_inputs=num_inputs, sigma=sigma, **kwargs)
        self.lambd = lambd

    def training_step(self, batch, batch_idx):
        data_loss = self.step(batch, "train")
        penalty = l2_penalty(self.w)
        self.log_mean("train/l2_penalty", penalty, batch[1].shape[0])
        return data_loss + self.lambd * penalty


class WeightDecay(LinearRegression):
    """3.12 concise: the optimizer's `weight_decay` acts on the weight only, the bias gets its own
    parameter group without decay (the book builds two optimizers for that). Squared loss / 2 and
    every parameter ~ N(0, 1), as the book."""

    def __init__(self, num_inputs: int = 200, init_std: float = 1.0, **kwargs):
        super().__init__(num_inputs=num_inputs, init_std=None, loss="squared", **kwargs)
        nn.init.normal_(self.net.weight, std=init_std)
        nn.init.normal_(self.net.bias, std=init_std)

    def param_groups(self):
        return [{"params": [self.net.weight]}, {"params": [self.net.bias], "weight_decay": 0.0}]


class SoftmaxRegressionScratch(Classifier):
    """3.6: o = X W + b with W ~ N(0, sigma^2) (784 x 10), b = 0; our own softmax and
    cross-entropy. `forward` returns the scores o; the loss applies the scratch softmax."""

    def __init__(self, num_inputs: int = 784, num_outputs: int = 10, sigma: float = 0.01, **kwargs):
        super().__init__(num_classes=num_outputs, **kwargs)
        self.W = nn.Parameter(torch.randn(num_inputs, num_outputs) * sigma)
        self.b = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: Tensor) -> Tensor:
        return X.reshape(-1, self.W.shape[0]) @ self.W + self.b

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return cross_entropy(softmax(y_hat), y)


class SoftmaxRegression(Classifier):
    """3.7: flatten + `nn.Linear(784, 10)` (weights ~ N(0, 0.01^2), bias 0); `nn.CrossEntropyLoss`
    combines softmax and cross-entropy stably."""

    def __init__(self, num_inputs: int = 784, num_outputs: int = 10, init_std: float = 0.01, **kwargs):
        super().__init__(num_classes=num_outputs, **kwargs)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_outputs))
        nn.init.normal_(self.net[1].weight, std=init_std)
        nn.init.zeros_(self.net[1].bias)

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)
