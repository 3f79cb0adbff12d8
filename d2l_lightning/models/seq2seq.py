"""Chapter 10.9-10.12 RNN encoder-decoders for machine translation, named as in the book and its
current edition: the GRU encoder (10.12 `Encoder`), additive attention (10.12 `attention_model` +
`attention_forward`, `MLPAttention`), the decoder with attention (10.12 `Decoder`,
`AttentionDecoder`) and one without (10.9, `Seq2SeqDecoder`), and the two models built from them.

Shapes follow the book: the GRUs are time-major, (time steps, batch, features); a batch of token
ids is (batch, time steps). Padding never changes a result: the encoder packs the sources by their
valid lengths (its outputs at padded steps are zeros and its final state is that of the last real
token) and attention gives padded source positions weight 0. (The book's encoder runs over the
`<pad>` tokens and attends to them.)
"""

from abc import abstractmethod
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from d2l_lightning.core import EncoderDecoder
from d2l_lightning.errors import check_range
from d2l_lightning.text import sequence_mask


def masked_softmax(scores: Tensor, valid_lens: Tensor | None) -> Tensor:
    """Softmax over the last axis of `scores` (batch, ..., positions), with the positions at or
    beyond each row's valid length given probability exactly 0 (their scores become -inf). Every
    valid length must be at least 1 (a source always holds its `<eos>`)."""
    if valid_lens is None:
        return torch.softmax(scores, dim=-1)
    mask = sequence_mask(valid_lens, scores.shape[-1])
    mask = mask.reshape(mask.shape[0], *[1] * (scores.dim() - 2), mask.shape[1])
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


class Seq2SeqEncoder(nn.Module):
    """10.12 `Encoder`: embedding -> multi-layer GRU (dropout between layers). Returns the last
    layer's hidden state at every time step, (time steps, batch, num_hiddens): the keys and values
    of attention, and the final state of every layer, (num_layers, batch, num_hiddens): the
    decoder's first state. With `valid_len` the padded steps are skipped (packed sequences)."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)

    def forward(self, X: Tensor, valid_len: Tensor | None = None) -> tuple[Tensor, Tensor]:
        emb = self.embedding(X.long()).permute(1, 0, 2)  # (time steps, batch, embed_size)
        if valid_len is None:
            return self.rnn(emb)
        packed = pack_padded_sequence(emb, valid_len.cpu(), enforce_sorted=False)
        outputs, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, total_length=X.shape[1])
        return outputs, state


class MLPAttention(nn.Module):
    """10.11/10.12 additive attention, the book's `attention_model` + `attention_forward`:
    the score of source step t is v^T tanh(W [h_t; s]) (h_t the encoder's output at t, s the
    decoder's previous hidden state; two Linear layers without bias, `attention_size` = len(v)),
    softmax over the source steps (padding masked out), and the context is the weighted sum of
    the h_t.

    Args:
        input_size: size of [h_t; s] (encoder plus decoder hidden units; book 2 * num_hiddens).
        attention_size: hidden units of the scoring MLP (book 10).
    """

    def __init__(self, input_size: int, attention_size: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_size, attention_size, bias=False), nn.Tanh(),
                                 nn.Linear(attention_size, 1, bias=False))

    def forward(self, enc_states: Tensor, dec_state: Tensor,
                valid_lens: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """enc_states (time steps, batch, h), dec_state (batch, s) -> context (batch, h) and the
        attention weights (batch, time steps)."""
        dec_states = dec_state.unsqueeze(0).expand(enc_states.shape[0], -1, -1)
        scores = self.net(torch.cat((enc_states, dec_states), dim=2)).squeeze(-1).T  # (batch, steps)
        weights = masked_softmax(scores, valid_lens)
        context = (weights.T.unsqueeze(-1) * enc_states).sum(dim=0)
        return context, weights


class AttentionDecoder(nn.Module):
    """10.12 `Decoder`: at each step, attention over the encoder's outputs with the top layer's
    previous hidden state as query gives a context vector; [embedding of the previous token;
    context] goes through the GRU, whose output a Linear layer maps to the target vocabulary. The
    GRU's input size is embed_size + num_hiddens (the book writes 2 * embed_size, right only
    because both are 64 there). The first state is the encoder's final state, so both GRUs have
    the same layers and units."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 attention_size: int, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.attention = MLPAttention(2 * num_hiddens, attention_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def begin_state(self, enc_outputs: Tensor, enc_state: Tensor, src_valid_len: Tensor | None) -> tuple:
        return enc_outputs, enc_state, src_valid_len

    def forward(self, cur_input: Tensor, state: tuple) -> tuple[Tensor, tuple, Tensor]:
        """One time step: previous tokens (batch,) -> logits (batch, vocab), state, attention
        weights (batch, source steps)."""
        enc_outputs, hidden, valid_len = state
        context, weights = self.attention(enc_outputs, hidden[-1], valid_len)
        x = torch.cat((self.embedding(cur_input), context), dim=1).unsqueeze(0)
        output, hidden = self.rnn(x, hidden)
        return self.dense(output[0]), (enc_outputs, hidden, valid_len), weights


class Seq2SeqDecoder(nn.Module):
    """10.9 decoder without attention (the current edition's `Seq2SeqDecoder`): the context is
    the encoder's final top-layer state, the same at every step, concatenated with the embedding
    of the previous token; the first state is the encoder's final state."""

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int,
                 dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def begin_state(self, enc_outputs: Tensor, enc_state: Tensor, src_valid_len: Tensor | None) -> tuple:
        return enc_state[-1], enc_state  # (context, hidden state)

    def forward_sequence(self, dec_input: Tensor, state: tuple) -> tuple[Tensor, tuple]:
        """Every step at once (teacher forcing): tokens (batch, steps) -> logits (batch, steps, vocab)."""
        context, hidden = state
        emb = self.embedding(dec_input).permute(1, 0, 2)  # (steps, batch, embed_size)
        x = torch.cat((emb, context.unsqueeze(0).expand(emb.shape[0], -1, -1)), dim=2)
        output, hidden = self.rnn(x, hidden)
        return self.dense(output).permute(1, 0, 2), (context, hidden)

    def forward(self, cur_input: Tensor, state: tuple) -> tuple[Tensor, tuple, None]:
        logits, state = self.forward_sequence(cur_input[:, None], state)
        return logits[:, 0], state, None


def _rows(state: Any, index: Tensor, dim: int) -> Any:
    """`state` (a tensor, None, or tuples of them) with the batch rows `index` along `dim`."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(dim, index)
    return tuple(_rows(s, index, dim) for s in state)


class _RNNEncoderDecoder(EncoderDecoder):
    """A `Seq2SeqEncoder` and a decoder of the same layers and units; the options both share."""

    def __init__(self, embed_size: int = 64, num_hiddens: int = 64, num_layers: int = 2,
                 dropout: float = 0.0, **kwargs):
        check_range("embed_size", embed_size, ">= 1")
        check_range("num_hiddens", num_hiddens, ">= 1")
        check_range("num_layers", num_layers, ">= 1")
        check_range("dropout", dropout, "[0, 1)", "It is the dropout between stacked GRU layers.")
        self.embed_size, self.num_hiddens, self.num_layers, self.dropout = (
            embed_size, num_hiddens, num_layers, dropout)
        super().__init__(**kwargs)

    def build_network(self, src_vocab_size: int, tgt_vocab_size: int) -> None:
        self.encoder = Seq2SeqEncoder(src_vocab_size, self.embed_size, self.num_hiddens, self.num_layers,
                                      self.dropout)
        self.decoder = self.make_decoder(tgt_vocab_size)

    @abstractmethod
    def make_decoder(self, vocab_size: int) -> nn.Module:
        """The decoder (each model's own: plain or with attention)."""

    def begin_decoding(self, src: Tensor, src_valid_len: Tensor) -> tuple:
        enc_outputs, enc_state = self.encoder(src, src_valid_len)
        return self.decoder.begin_state(enc_outputs, enc_state, src_valid_len)

    def decode_step(self, tokens: Tensor, state: tuple) -> tuple[Tensor, tuple, Tensor | None]:
        return self.decoder(tokens, state)


class Seq2SeqAttention(_RNNEncoderDecoder):
    """10.12 machine translation: `Seq2SeqEncoder` + `AttentionDecoder` (book: embedding 64,
    hidden 64, 2 GRU layers, attention_size 10, dropout 0.5), trained with teacher forcing; the
    decoder runs step by step since each step's attention reads the previous state."""

    def __init__(self, embed_size: int = 64, num_hiddens: int = 64, num_layers: int = 2,
                 attention_size: int = 10, dropout: float = 0.0, **kwargs):
        check_range("attention_size", attention_size, ">= 1")
        self.attention_size = attention_size
        super().__init__(embed_size=embed_size, num_hiddens=num_hiddens, num_layers=num_layers,
                         dropout=dropout, **kwargs)

    def make_decoder(self, vocab_size: int) -> nn.Module:
        return AttentionDecoder(vocab_size, self.embed_size, self.num_hiddens, self.num_layers,
                                self.attention_size, self.dropout)

    def forward(self, src: Tensor, src_valid_len: Tensor, dec_input: Tensor) -> Tensor:
        state = self.begin_decoding(src, src_valid_len)
        logits = []
        for tokens in dec_input.T:  # teacher forcing: the true previous token at every step
            step_logits, state, _ = self.decoder(tokens, state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # (batch, steps, vocab)

    def reorder_state(self, state: tuple, index: Tensor) -> tuple:
        enc_outputs, hidden, valid_len = state  # time-major tensors: the batch is dim 1
        return _rows(enc_outputs, index, 1), _rows(hidden, index, 1), _rows(valid_len, index, 0)


class Seq2Seq(_RNNEncoderDecoder):
    """10.9 encoder-decoder without attention: the decoder sees the source only through the
    encoder's final state (its first state and a context at every step). Beyond the book's code:
    the baseline 10.11's attention improves on."""

    def make_decoder(self, vocab_size: int) -> nn.Module:
        return Seq2SeqDecoder(vocab_size, self.embed_size, self.num_hiddens, self.num_layers, self.dropout)

    def forward(self, src: Tensor, src_valid_len: Tensor, dec_input: Tensor) -> Tensor:
        logits, _ = self.decoder.forward_sequence(dec_input, self.begin_decoding(src, src_valid_len))
        return logits

    def reorder_state(self, state: tuple, index: Tensor) -> tuple:
        context, hidden = state
        return _rows(context, index, 0), _rows(hidden, index, 1)
