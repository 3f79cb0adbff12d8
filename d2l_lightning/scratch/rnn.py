"""Chapter 6 from scratch: one-hot inputs, the RNN, GRU and LSTM layers (6.4, 6.7, 6.8) and
gradient clipping by global norm (6.4 `grad_clipping`).

Layers work time-major like `nn.RNN`: inputs (num_steps, batch, num_inputs) -> outputs (num_steps,
batch, num_hiddens) and a state tuple ((H,) or (H, C)), each (batch, num_hiddens). The input
projections X_t W_x* of all time steps are computed in one matrix product before the loop over
time; that is the book's per-step `torch.matmul(X, W_x*)`, done at once. Parameters are named and
initialised as in the book (W ~ N(0, sigma^2), b = 0), W_x* stored (inputs, hiddens).
"""

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def one_hot(x: Tensor, n_class: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """6.4 `one_hot`: indices of any shape -> one more trailing axis of length `n_class`."""
    x = x.long()
    res = torch.zeros(*x.shape, n_class, dtype=dtype, device=x.device)
    return res.scatter_(-1, x.unsqueeze(-1), 1)


def grad_clipping(params: Iterable[Tensor], theta: float) -> Tensor:
    """6.4 `grad_clipping`: g <- min(theta / ||g||, 1) g, with ||g|| the L2 norm of all gradients
    together. Returns the norm before clipping. (No `.item()`: it never waits for a GPU.)"""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    from d2l_lightning.core.module import sum_dtype  # (core imports this module)

    dtype = sum_dtype(grads[0].device)  # float64 where the device has it (not on Apple's MPS)
    norm = torch.sqrt(sum((g.detach().to(dtype) ** 2).sum() for g in grads))
    scale = torch.clamp(theta / norm, max=1.0)  # a zero norm gives inf -> 1
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return norm.float()


def _normal(shape: tuple[int, ...], sigma: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * sigma)


def _three(num_inputs: int, num_hiddens: int, sigma: float) -> tuple[nn.Parameter, ...]:
    return (_normal((num_inputs, num_hiddens), sigma), _normal((num_hiddens, num_hiddens), sigma),
            nn.Parameter(torch.zeros(num_hiddens)))


class RNNLayerScratch(nn.Module):
    """6.4: H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)."""

    state_size = 1

    def __init__(self, num_inputs: int, num_hiddens: int, sigma: float = 0.01):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.W_xh, self.W_hh, self.b_h = _three(num_inputs, num_hiddens, sigma)

    def init_state(self, batch_size: int, device=None) -> tuple[Tensor, ...]:
        """The book's `init_rnn_state` (and `init_gru_state`, `init_lstm_state`): zeros."""
        return tuple(torch.zeros(batch_size, self.num_hiddens, device=device)
                     for _ in range(self.state_size))

    def forward(self, inputs: Tensor, state: tuple[Tensor, ...] | None = None):
        H, = state if state is not None else self.init_state(inputs.shape[1], inputs.device)
        XW = inputs @ self.W_xh + self.b_h
        outputs = []
        for t in range(inputs.shape[0]):
            H = torch.tanh(XW[t] + H @ self.W_hh)
            outputs.append(H)
        return torch.stack(outputs), (H,)


class GRULayerScratch(RNNLayerScratch):
    """6.7 gated recurrent unit:
    Z = sigmoid(X W_xz + H W_hz + b_z), R = sigmoid(X W_xr + H W_hr + b_r),
    H~ = tanh(X W_xh + (R * H) W_hh + b_h), H = Z * H + (1 - Z) * H~.

    `reset_after=True` computes the candidate as tanh(X W_xh + R * (H W_hh) + b_h) instead: what
    the book's code does (unlike its own formula; the book's repository later fixed the code) and,
    with a zero b_hn, what
    `nn.GRU` does."""

    def __init__(self, num_inputs: int, num_hiddens: int, sigma: float = 0.01, reset_after: bool = False):
        nn.Module.__init__(self)
        self.num_hiddens, self.reset_after = num_hiddens, reset_after
        self.W_xz, self.W_hz, self.b_z = _three(num_inputs, num_hiddens, sigma)
        self.W_xr, self.W_hr, self.b_r = _three(num_inputs, num_hiddens, sigma)
        self.W_xh, self.W_hh, self.b_h = _three(num_inputs, num_hiddens, sigma)

    def forward(self, inputs: Tensor, state: tuple[Tensor, ...] | None = None):
        H, = state if state is not None else self.init_state(inputs.shape[1], inputs.device)
        XZ = inputs @ self.W_xz + self.b_z
        XR = inputs @ self.W_xr + self.b_r
        XH = inputs @ self.W_xh + self.b_h
        outputs = []
        for t in range(inputs.shape[0]):
            Z = torch.sigmoid(XZ[t] + H @ self.W_hz)
            R = torch.sigmoid(XR[t] + H @ self.W_hr)
            if self.reset_after:
                H_tilda = torch.tanh(XH[t] + R * (H @ self.W_hh))
            else:
                H_tilda = torch.tanh(XH[t] + (R * H) @ self.W_hh)
            H = Z * H + (1 - Z) * H_tilda
            outputs.append(H)
        return torch.stack(outputs), (H,)


class LSTMLayerScratch(RNNLayerScratch):
    """6.8 long short-term memory: gates I, F, O = sigmoid(X W_x* + H W_h* + b_*),
    C~ = tanh(X W_xc + H W_hc + b_c), C = F * C + I * C~, H = O * tanh(C); state (H, C)."""

    state_size = 2

    def __init__(self, num_inputs: int, num_hiddens: int, sigma: float = 0.01):
        nn.Module.__init__(self)
        self.num_hiddens = num_hiddens
        self.W_xi, self.W_hi, self.b_i = _three(num_inputs, num_hiddens, sigma)
        self.W_xf, self.W_hf, self.b_f = _three(num_inputs, num_hiddens, sigma)
        self.W_xo, self.W_ho, self.b_o = _three(num_inputs, num_hiddens, sigma)
        self.W_xc, self.W_hc, self.b_c = _three(num_inputs, num_hiddens, sigma)

    def forward(self, inputs: Tensor, state: tuple[Tensor, ...] | None = None):
        H, C = state if state is not None else self.init_state(inputs.shape[1], inputs.device)
        XI = inputs @ self.W_xi + self.b_i
        XF = inputs @ self.W_xf + self.b_f
        XO = inputs @ self.W_xo + self.b_o
        XC = inputs @ self.W_xc + self.b_c
        outputs = []
        for t in range(inputs.shape[0]):
            I = torch.sigmoid(XI[t] + H @ self.W_hi)
            F = torch.sigmoid(XF[t] + H @ self.W_hf)
            O = torch.sigmoid(XO[t] + H @ self.W_ho)
            C_tilda = torch.tanh(XC[t] + H @ self.W_hc)
            C = F * C + I * C_tilda
            H = O * torch.tanh(C)
            outputs.append(H)
        return torch.stack(outputs), (H, C)
