"""The token vocabulary (no torchtext: it does not import with current torch)."""

from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from d2l_lightning.errors import ConfigError

#: the special tokens of sequence models: padding, begin and end of sequence, unknown word
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS)


class Vocab:
    """Maps tokens (characters, words) to consecutive indices and back.

    Tokens are ordered by falling frequency, ties by first appearance, so the same text always
    gives the same indices (the book's `list(set(chars))` order changes from run to run).

    Args:
        tokens: the corpus, as an iterable of tokens (a string is an iterable of characters).
        min_freq: tokens seen fewer times are left out (they become `unk_token`, if any).
        reserved: special tokens placed first (after `unk_token`), e.g. `["<pad>", "<bos>"]`.
        unk_token: if given (e.g. `"<unk>"`), it gets index 0 and every unknown token maps to it;
            if None, looking up an unknown token raises a `ConfigError` naming it.
    """

    def __init__(self, tokens: Iterable[str], min_freq: int = 1, reserved: Sequence[str] = (),
                 unk_token: str | None = None):
        counts = Counter(tokens)
        specials = ([unk_token] if unk_token is not None else []) + [t for t in reserved if t != unk_token]
        # Counter keeps first-appearance order, and sorted() is stable: ties stay in that order
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        self.idx_to_token: list[str] = list(specials) + [
            t for t, c in ordered if c >= min_freq and t not in specials]
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(self.idx_to_token)}
        self.unk_token = unk_token
        self.counts = counts

    @classmethod
    def for_sequences(cls, tokens: Iterable[str], min_freq: int = 1) -> "Vocab":
        """The vocabulary of sequence-to-sequence and classification data: `<unk>` first (index 0),
        then `<pad>`, `<bos>`, `<eos>`, then the tokens seen at least `min_freq` times."""
        return cls(tokens, min_freq=min_freq, reserved=SPECIALS, unk_token=UNK)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def index(self, token: str) -> int:
        """The index of a token that must be in the vocabulary (a special token, say)."""
        if token not in self.token_to_idx:
            raise KeyError(f"{token!r} is not in this vocabulary")
        return self.token_to_idx[token]

    @property
    def pad(self) -> int:
        return self.index(PAD)

    @property
    def bos(self) -> int:
        return self.index(BOS)

    @property
    def eos(self) -> int:
        return self.index(EOS)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_idx

    @property
    def unk(self) -> int | None:
        return 0 if self.unk_token is not None else None

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The distinct tokens of `tokens` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(t for t in tokens if t not in self.token_to_idx))

    def encode(self, tokens: Iterable[str]) -> list[int]:
        tokens = list(tokens)
        if self.unk_token is not None:
            return [self.token_to_idx.get(t, 0) for t in tokens]
        missing = self.unknown(tokens)
        if missing:
            raise ConfigError(f"{''.join(tokens)!r} has token(s) not in the vocabulary of {len(self)}: "
                              f"{', '.join(map(repr, missing))}. Use tokens of the training text.")
        return [self.token_to_idx[t] for t in tokens]

    def decode(self, indices: Iterable[int] | Tensor, sep: str = "") -> str:
        if isinstance(indices, Tensor):
            indices = indices.tolist()
        return sep.join(self.idx_to_token[int(i)] for i in indices)

    def tensor(self, tokens: Iterable[str]) -> Tensor:
        return torch.tensor(self.encode(tokens), dtype=torch.long)
