"""Chapter 6 character-level language models: RNN, GRU and LSTM from scratch (6.4, 6.7, 6.8) and
with `nn.RNN` / `nn.GRU` / `nn.LSTM` (6.5, 6.7, 6.8), deep (6.9, `num_layers`) and bidirectional
(6.10). Inputs are one-hot vectors of the vocabulary, as in the book; the output layer maps the
hidden state of every time step to vocabulary logits."""

import torch
from torch import Tensor, nn

from d2l_lightning.core import LanguageModel
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.scratch import GRULayerScratch, LSTMLayerScratch, RNNLayerScratch, one_hot


class RNNScratch(LanguageModel):
    """6.4: one-hot -> `RNNLayerScratch` (tanh) -> H W_hq + b_q; `num_layers` > 1 stacks layers as in
    6.9 (layer l reads layer l-1's hidden states). Every W ~ N(0, sigma^2), every b = 0. The state
    is a tuple with one state tuple per layer."""

    layer = RNNLayerScratch

    def __init__(self, vocab_size: int | None = None, num_hiddens: int = 256, num_layers: int = 1,
                 sigma: float = 0.01, clip_theta: float | None = 0.01, pred_period: int = 0, **kwargs):
        check_range("num_hiddens", num_hiddens, ">= 1")
        check_range("num_layers", num_layers, ">= 1")
        self.num_hiddens, self.num_layers, self.sigma = num_hiddens, num_layers, sigma
        # set before the base class's __init__, which builds the network when vocab_size is given
        super().__init__(vocab_size=vocab_size, clip_theta=clip_theta, pred_period=pred_period, **kwargs)

    def make_layer(self, num_inputs: int) -> nn.Module:
        return self.layer(num_inputs, self.num_hiddens, self.sigma)

    def build_network(self, vocab_size: int) -> None:
        self.layers = nn.ModuleList(self.make_layer(vocab_size if i == 0 else self.num_hiddens)
                                    for i in range(self.num_layers))
        self.W_hq = nn.Parameter(torch.randn(self.num_hiddens, vocab_size) * self.sigma)
        self.b_q = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, X: Tensor, state=None):
        H = one_hot(X.T, self.vocab_size)  # (num_steps, batch, vocab)
        new_state = []
        for i, layer in enumerate(self.layers):
            H, s = layer(H, state[i] if state is not None else None)
            new_state.append(s)
        return H @ self.W_hq + self.b_q, tuple(new_state)


class GRUScratch(RNNScratch):
    """6.7 from scratch with `GRULayerScratch`. `reset_after: false` (default) is the formula of the
    text, H~ = tanh(X W_xh + (R * H) W_hh + b_h); `true` is the book's code, R * (H W_hh)
    (unlike the text's formula; the book's repository later fixed the code, and its re-run gives
    1.815), which produced its 1.44 perplexity."""

    layer = GRULayerScratch

    def __init__(self, vocab_size: int | None = None, num_hiddens: int = 256, num_layers: int = 1,
                 sigma: float = 0.01, reset_after: bool = False, clip_theta: float | None = 0.01,
                 pred_period: int = 0, **kwargs):
        self.reset_after = reset_after
        super().__init__(vocab_size=vocab_size, num_hiddens=num_hiddens, num_layers=num_layers, sigma=sigma,
                         clip_theta=clip_theta, pred_period=pred_period, **kwargs)

    def make_layer(self, num_inputs: int) -> nn.Module:
        return GRULayerScratch(num_inputs, self.num_hiddens, self.sigma, reset_after=self.reset_after)


class LSTMScratch(RNNScratch):
    """6.8 from scratch with `LSTMLayerScratch`; the state of a layer is (H, C) and only H feeds the
    next layer and the output layer."""

    layer = LSTMLayerScratch


_RNN_TYPES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNNModel(LanguageModel):
    """6.5 `RNNModel`: one-hot -> `nn.RNN` / `nn.GRU` / `nn.LSTM` (`rnn_type`) -> `nn.Linear`, with
    PyTorch's default initialisation (as the book). `num_layers` stacks layers (6.9);
    `bidirectional` runs a second layer backwards in time and concatenates both hidden states
    (6.10) -- that layer sees the characters it should predict, so it is no language model for
    generation; it is here for the shapes and later chapters."""

    def __init__(self, vocab_size: int | None = None, rnn_type: str = "rnn", num_hiddens: int = 256,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 clip_theta: float | None = 0.01, pred_period: int = 0, **kwargs):
        if rnn_type not in _RNN_TYPES:
            raise ConfigError(f"rnn_type must be one of {', '.join(_RNN_TYPES)}, got {rnn_type!r}.")
        check_range("num_hiddens", num_hiddens, ">= 1")
        check_range("num_layers", num_layers, ">= 1")
        check_range("dropout", dropout, "[0, 1)", "It is the dropout between stacked layers (num_layers > 1).")
        self.rnn_type, self.num_hiddens, self.num_layers = rnn_type, num_hiddens, num_layers
        self.bidirectional, self.dropout = bidirectional, dropout
        super().__init__(vocab_size=vocab_size, clip_theta=clip_theta, pred_period=pred_period, **kwargs)

    def build_network(self, vocab_size: int) -> None:
        self.rnn = _RNN_TYPES[self.rnn_type](vocab_size, self.num_hiddens, num_layers=self.num_layers,
                                             bidirectional=self.bidirectional, dropout=self.dropout)
        self.dense = nn.Linear(self.num_hiddens * (2 if self.bidirectional else 1), vocab_size)

    def forward(self, X: Tensor, state=None):
        Y, state = self.rnn(one_hot(X.T, self.vocab_size), state)
        return self.dense(Y), state
