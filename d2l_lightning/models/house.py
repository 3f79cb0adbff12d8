"""3.16 house-price regression, scored by the competition's log RMSE."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2l_lightning.core import Regressor
from d2l_lightning.core.module import sum_dtype
from d2l_lightning.errors import check_range


def squared_log_error(price_hat: Tensor, price: Tensor) -> Tensor:
    """Mean of (log clip(y_hat, 1) - log y)^2; its square root over a whole set is the book's
    `log_rmse` (prices below 1 are clipped to 1 so the log stays finite)."""
    dtype = sum_dtype(price_hat.device)  # float64 where the device has it (not on Apple's MPS)
    d = torch.log(price_hat.clamp(min=1).to(dtype)) - torch.log(price.reshape(price_hat.shape).to(dtype))
    return (d**2).mean()


def log_rmse(price_hat: Tensor, price: Tensor) -> float:
    """3.16 `log_rmse` over a whole set."""
    return squared_log_error(price_hat, price).sqrt().item()


class HousePriceRegression(Regressor):
    """The book's model is `nn.Linear(num_features, 1)` (every parameter ~ N(0, 0.01^2)) trained
    with MSE on raw prices (`num_hiddens: []`, `log_target: false`). Our improved variant adds
    hidden layers with dropout and fits log prices (`log_target: true`), which matches the
    competition's log RMSE score. The input size is taken from the data (a lazy first layer).

    Args:
        num_hiddens: sizes of hidden layers (ReLU), empty for the book's linear model.
        dropout: dropout after each hidden layer.
        log_target: fit log(price) with MSE and predict exp of the output.
        init_std: every parameter ~ N(0, init_std^2); null keeps PyTorch's default init.
        output_bias: start value of the output layer's bias (e.g. 12, about the log of a typical
            price, so a log-target model does not spend its first epochs getting there).
    """

    monitor = "val/log_rmse"

    def __init__(self, num_hiddens: list[int] | None = None, dropout: float = 0.0,
                 log_target: bool = False, init_std: float | None = 0.01,
                 output_bias: float | None = None, **kwargs):
        super().__init__(**kwargs)
        check_range("dropout", dropout, "[0, 1)", "With 1 every unit is dropped and nothing can be learned.")
        layers: list[nn.Module] = []
        width = None  # input width of the next layer; None until known (lazy first layer)
        for h in num_hiddens or []:
            layers += [nn.LazyLinear(h) if width is None else nn.Linear(width, h),
                       nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.LazyLinear(1) if width is None else nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.log_target, self.init_std, self.output_bias = log_target, init_std, output_bias

    def init_weights(self) -> None:
        if self.init_std is not None:
            for p in self.net.parameters():
                nn.init.normal_(p, std=self.init_std)
        if self.output_bias is not None:
            nn.init.constant_(self.net[-1].bias, self.output_bias)

    def param_groups(self):
        # weight decay (if the optimizer has any) shrinks weights, not biases: a decayed output
        # bias would be pulled from ~log(price) towards 0
        weights = [p for n, p in self.net.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in self.net.named_parameters() if not n.endswith("weight")]
        return [{"params": weights}, {"params": biases, "weight_decay": 0.0}]

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)

    def price(self, X: Tensor) -> Tensor:
        out = self(X)
        return out.exp() if self.log_target else out

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        target = y.log() if self.log_target else y
        return F.mse_loss(y_hat, target.reshape(y_hat.shape))

    def update_metrics(self, y_hat: Tensor, y: Tensor, stage: str, weight: int) -> None:
        price_hat = y_hat.exp() if self.log_target else y_hat
        self.log_mean(f"{stage}/log_rmse", squared_log_error(price_hat, y), weight, finish=torch.sqrt)

    def predict_outputs(self, y_hat: Tensor, target: Tensor | None) -> dict[str, Tensor]:
        return {"prediction": (y_hat.exp() if self.log_target else y_hat).squeeze(-1)}
