"""Turning text into batches: the book's tokenizer, `truncate_pad` (10.7) and a padding collate
that keeps each sequence's valid length (what masked losses and attention need)."""

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from d2l_lightning.errors import ConfigError


def tokenize(lines: Iterable[str], token: str = "word") -> list[list[str]]:
    """Each line as a list of words (split on white space) or of characters."""
    if token == "word":
        return [line.split() for line in lines]
    if token == "char":
        return [list(line) for line in lines]
    raise ConfigError(f"token must be 'word' or 'char', got {token!r}.")


def truncate_pad(line: Sequence[int], num_steps: int, padding_token: int) -> list[int]:
    """10.7: the first `num_steps` tokens of `line`, padded with `padding_token` to exactly that
    length."""
    if len(line) > num_steps:
        return list(line[:num_steps])
    return list(line) + [padding_token] * (num_steps - len(line))


def pad_batch(sequences: Sequence[Sequence[int] | Tensor], padding_token: int,
              length: int | None = None) -> tuple[Tensor, Tensor]:
    """(padded, valid_lens): the sequences as one (batch, length) tensor of indices, padded with
    `padding_token` to the longest (or to `length`, truncating longer ones), and the number of
    real tokens of each row."""
    rows = [list(s.tolist() if isinstance(s, Tensor) else s) for s in sequences]
    length = max((len(r) for r in rows), default=0) if length is None else length
    padded = torch.tensor([truncate_pad(r, length, padding_token) for r in rows], dtype=torch.long)
    valid = torch.tensor([min(len(r), length) for r in rows], dtype=torch.long)
    return padded.reshape(len(rows), length), valid


def sequence_mask(valid_lens: Tensor, length: int) -> Tensor:
    """(batch, length) booleans: True at the first `valid_lens[i]` positions of row i."""
    return torch.arange(length, device=valid_lens.device)[None, :] < valid_lens[:, None]
