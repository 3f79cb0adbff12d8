"""Decoding an encoder-decoder's output sequence (book 10.10): greedy search, as 10.12's
`translate`, and beam search.

Both drive a model through two functions, so they work for any decoder (an RNN carrying its
hidden state, a Transformer re-reading its prefix, the tests' hand-made table of probabilities):

- `step(tokens, state) -> (logits, state, attention)`: the scores of the next token for each row
  given the previous token of each row (`tokens`, shape (n,)), the new state, and the attention
  weights over the source of this step (shape (n, source length)) or None;
- `reorder(state, index) -> state` (beam search only): the state of rows `index` (a LongTensor),
  in that order, possibly repeated: the beams kept after a step and the prefixes they extend.

A search starts from `<bos>` and ends a sequence at `<eos>` or after `max_len` tokens, whichever
comes first (the book's `translate` loops `max_seq_len` times).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any, Tensor | None]]
ReorderFn = Callable[[Any, Tensor], Any]


@dataclass
class Hypothesis:
    """One output sequence of a search.

    tokens: the output token ids, `<eos>` included when the search produced it (a sequence cut at
        `max_len` has none).
    log_prob: log P(tokens | source), the sum of each token's log-probability.
    attention: (len(tokens), source length) attention weights, one row per output token, or None
        for a decoder without attention.
    """

    tokens: list[int]
    log_prob: float
    attention: Tensor | None = None

    def score(self, alpha: float = 0.75) -> float:
        """10.10's ranking of final candidates: (1 / L**alpha) * log P, L = len(tokens) (with its
        `<eos>`). Dividing by L**alpha offsets the extra negative log terms of longer sequences."""
        return self.log_prob / max(len(self.tokens), 1) ** alpha

    def without(self, *special: int) -> list[int]:
        """The tokens, special ones (`<eos>`) left out: what is shown and scored."""
        return [t for t in self.tokens if t not in special]


def _stack(rows: list[Tensor]) -> Tensor | None:
    return torch.stack(rows) if rows else None


@torch.no_grad()
def greedy_search(step: StepFn, state: Any, batch_size: int, bos: int, eos: int, max_len: int,
                  device: torch.device | str | None = None) -> list[Hypothesis]:
    """10.10 greedy search for a batch of sources at once: at each step every row takes its most
    likely next token, until it is `<eos>` or the row has `max_len` tokens."""
    tokens = torch.full((batch_size,), bos, dtype=torch.long, device=device)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    log_probs = [0.0] * batch_size
    attention: list[list[Tensor]] = [[] for _ in range(batch_size)]
    done = [False] * batch_size
    for _ in range(max_len):
        logits, state, attn = step(tokens, state)
        logp = F.log_softmax(logits.float(), dim=-1)
        tokens = logp.argmax(dim=-1)
        best = logp.gather(1, tokens[:, None])[:, 0].tolist()
        for i, (token, lp) in enumerate(zip(tokens.tolist(), best)):
            if done[i]:
                continue  # (finished rows keep being computed with the batch; their output is ignored)
            out[i].append(token)
            log_probs[i] += lp
            if attn is not None:
                attention[i].append(attn[i].float().cpu())
            done[i] = token == eos
        if all(done):
            break
    return [Hypothesis(out[i], log_probs[i], _stack(attention[i])) for i in range(batch_size)]


@torch.no_grad()
def beam_search(step: StepFn, state: Any, reorder: ReorderFn, bos: int, eos: int, max_len: int,
                beam_size: int, alpha: float = 0.75, device: torch.device | str | None = None,
                ) -> list[Hypothesis]:
    """10.10 beam search for one source (`state` is that of a batch of one): at each step the
    `beam_size` most likely sequences among every extension of the current beams by one token are
    kept. An extension by `<eos>` is a final candidate and leaves the beam (so the beam narrows;
    the book keeps finished sequences in it, which changes nothing since what follows `<eos>` is
    discarded). Sequences still open after `max_len` tokens are candidates too, so there is always
    an output (the book's greedy `translate` also stops there).

    Returns every final candidate, best first by `Hypothesis.score(alpha)` (book: alpha 0.75).
    With `beam_size` 1 this is greedy search."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    prefixes: list[list[int]] = [[]]
    beam_logp = torch.zeros(1, device=device)
    beam_attn: list[list[Tensor]] = [[]]
    last = torch.full((1,), bos, dtype=torch.long, device=device)
    candidates: list[Hypothesis] = []
    for _ in range(max_len):
        logits, state, attn = step(last, state)
        total = beam_logp[:, None] + F.log_softmax(logits.float(), dim=-1)  # (beams, vocab)
        vocab = total.shape[1]
        top = total.flatten().topk(min(beam_size, total.numel()))
        kept_rows, kept_prefixes, kept_attn, kept_logp = [], [], [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, token = divmod(flat, vocab)
            rows = beam_attn[row] + ([attn[row].float().cpu()] if attn is not None else [])
            if token == eos:
                candidates.append(Hypothesis(prefixes[row] + [token], value, _stack(rows)))
            else:
                kept_rows.append(row)
                kept_prefixes.append(prefixes[row] + [token])
                kept_attn.append(rows)
                kept_logp.append(value)
        if not kept_rows:
            break
        index = torch.tensor(kept_rows, dtype=torch.long, device=total.device)
        state = reorder(state, index)
        prefixes, beam_attn = kept_prefixes, kept_attn
        beam_logp = torch.tensor(kept_logp, device=total.device)
        last = torch.tensor([p[-1] for p in prefixes], dtype=torch.long, device=total.device)
    else:  # max_len reached with open sequences: they are candidates as well
        candidates += [Hypothesis(p, lp, _stack(a))
                       for p, lp, a in zip(prefixes, beam_logp.tolist(), beam_attn)]
    return sorted(candidates, key=lambda h: -h.score(alpha))
