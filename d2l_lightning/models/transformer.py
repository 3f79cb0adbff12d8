"""A Transformer encoder-decoder for the same translation data (beyond the book: 10.11 mentions
the Transformer; the current edition builds it in its attention chapter). Sinusoidal positional
encoding, torch's `nn.TransformerEncoderLayer` for the encoder, and a decoder block of our own
from `nn.MultiheadAttention`, because torch's decoder layer does not return the cross-attention
weights that the heatmaps of `predict` show. Post-norm blocks (add, then LayerNorm), as in the
original Transformer and the current edition.
"""

import math

import torch
from torch import Tensor, nn

from d2l_lightning.core import EncoderDecoder
from d2l_lightning.errors import ConfigError, check_range
from d2l_lightning.text import sequence_mask


class PositionalEncoding(nn.Module):
    """Adds P[t, 2j] = sin(t / 10000^(2j/d)), P[t, 2j+1] = cos(t / 10000^(2j/d)) to (batch, steps,
    d) inputs, then dropout. Computed for the length at hand (no maximum length to configure)."""

    def __init__(self, num_hiddens: int, dropout: float):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.dropout = nn.Dropout(dropout)

    def forward(self, X: Tensor) -> Tensor:
        t = torch.arange(X.shape[1], dtype=torch.float32, device=X.device)[:, None]
        freq = torch.pow(10000.0, -torch.arange(0, self.num_hiddens, 2, dtype=torch.float32,
                                                device=X.device) / self.num_hiddens)
        P = torch.zeros(X.shape[1], self.num_hiddens, device=X.device)
        P[:, 0::2] = torch.sin(t * freq)
        P[:, 1::2] = torch.cos(t * freq)
        return self.dropout(X + P.to(X.dtype))


class TransformerDecoderBlock(nn.Module):
    """Masked self-attention over the target prefix, attention over the encoder's outputs (its
    weights, averaged over heads, are returned), position-wise feed-forward network; each followed
    by dropout, a residual connection and LayerNorm."""

    def __init__(self, num_hiddens: int, num_heads: int, ffn_num_hiddens: int, dropout: float):
        super().__init__()
        self.self_attention = nn.MultiheadAttention(num_hiddens, num_heads, dropout=dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(num_hiddens, num_heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(num_hiddens, ffn_num_hiddens), nn.ReLU(),
                                 nn.Linear(ffn_num_hiddens, num_hiddens))
        self.norms = nn.ModuleList(nn.LayerNorm(num_hiddens) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, X: Tensor, memory: Tensor, memory_pad: Tensor, causal: Tensor) -> tuple[Tensor, Tensor]:
        Y, _ = self.self_attention(X, X, X, attn_mask=causal, need_weights=False)
        X = self.norms[0](X + self.dropout(Y))
        Y, weights = self.cross_attention(X, memory, memory, key_padding_mask=memory_pad)
        X = self.norms[1](X + self.dropout(Y))
        return self.norms[2](X + self.dropout(self.ffn(X))), weights


class TransformerSeq2Seq(EncoderDecoder):
    """Transformer encoder-decoder for translation on `TranslationPairs`, with the same loss,
    metrics and decoding as the book's GRU models (see `EncoderDecoder`).

    Padded source positions are masked out of the encoder's self-attention and of the decoder's
    cross-attention; the decoder's self-attention is causal. Searches re-run the decoder over the
    whole prefix at each step (sentences are short; no cache).

    Args:
        num_hiddens: model width d (embeddings, attention, block outputs).
        num_heads: attention heads (d must be divisible by them).
        ffn_num_hiddens: hidden units of the position-wise feed-forward networks.
        num_layers: encoder blocks and decoder blocks (each).
        dropout: dropout after the positional encoding, in attention and after each sub-layer.
    """

    def __init__(self, num_hiddens: int = 64, num_heads: int = 4, ffn_num_hiddens: int = 128,
                 num_layers: int = 2, dropout: float = 0.1, **kwargs):
        for name, value in (("num_hiddens", num_hiddens), ("num_heads", num_heads),
                            ("ffn_num_hiddens", ffn_num_hiddens), ("num_layers", num_layers)):
            check_range(name, value, ">= 1")
        check_range("dropout", dropout, "[0, 1)")
        if num_hiddens % num_heads or num_hiddens % 2:
            raise ConfigError(f"num_hiddens ({num_hiddens}) must be even and divisible by num_heads "
                              f"({num_heads}): each head gets num_hiddens / num_heads units.")
        self.num_hiddens, self.num_heads, self.ffn_num_hiddens = num_hiddens, num_heads, ffn_num_hiddens
        self.num_layers, self.dropout = num_layers, dropout
        super().__init__(**kwargs)

    def build_network(self, src_vocab_size: int, tgt_vocab_size: int) -> None:
        d = self.num_hiddens
        self.src_embedding = nn.Embedding(src_vocab_size, d)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d)
        self.pos_encoding = PositionalEncoding(d, self.dropout)
        layer = nn.TransformerEncoderLayer(d, self.num_heads, self.ffn_num_hiddens, self.dropout,
                                           batch_first=True)
        # (nested tensors would only speed up inference on padded batches, and warn about it)
        self.encoder = nn.TransformerEncoder(layer, self.num_layers, enable_nested_tensor=False)
        self.decoder = nn.ModuleList(TransformerDecoderBlock(d, self.num_heads, self.ffn_num_hiddens,
                                                             self.dropout) for _ in range(self.num_layers))
        self.dense = nn.Linear(d, tgt_vocab_size)

    def _embed(self, embedding: nn.Embedding, X: Tensor) -> Tensor:
        # embeddings are scaled by sqrt(d) so they are not drowned by the positional encoding
        return self.pos_encoding(embedding(X) * math.sqrt(self.num_hiddens))

    def encode(self, src: Tensor, src_valid_len: Tensor) -> tuple[Tensor, Tensor]:
        """(memory (batch, source steps, d), padding mask (batch, source steps), True = padding)."""
        pad = ~sequence_mask(src_valid_len, src.shape[1])
        return self.encoder(self._embed(self.src_embedding, src), src_key_padding_mask=pad), pad

    def decode(self, dec_input: Tensor, memory: Tensor, memory_pad: Tensor) -> tuple[Tensor, Tensor]:
        """Logits (batch, steps, vocab) and the last block's cross-attention weights (batch, steps,
        source steps)."""
        steps = dec_input.shape[1]
        causal = torch.ones(steps, steps, dtype=torch.bool, device=dec_input.device).triu(1)
        X = self._embed(self.tgt_embedding, dec_input)
        weights = None
        for block in self.decoder:
            X, weights = block(X, memory, memory_pad, causal)
        return self.dense(X), weights

    def forward(self, src: Tensor, src_valid_len: Tensor, dec_input: Tensor) -> Tensor:
        memory, pad = self.encode(src, src_valid_len)
        return self.decode(dec_input, memory, pad)[0]

    def begin_decoding(self, src: Tensor, src_valid_len: Tensor) -> tuple:
        memory, pad = self.encode(src, src_valid_len)
        return memory, pad, src.new_zeros(src.shape[0], 0)  # the target prefix so far

    def decode_step(self, tokens: Tensor, state: tuple) -> tuple[Tensor, tuple, Tensor]:
        memory, pad, prefix = state
        prefix = torch.cat((prefix, tokens[:, None]), dim=1)
        logits, weights = self.decode(prefix, memory, pad)
        return logits[:, -1], (memory, pad, prefix), weights[:, -1]

    def reorder_state(self, state: tuple, index: Tensor) -> tuple:
        return tuple(s.index_select(0, index) for s in state)
