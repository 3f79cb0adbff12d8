"""10.3 Penn Treebank for word embeddings: the book's skip-gram data (subsampling, centre/context
pairs, negative sampling, the `batchify` padding), and beyond the book the co-occurrence counts
GloVe (10.5) is trained on.

The book builds its data with Python loops over 887,100 tokens; the functions here draw the same
things with the same distributions as whole-tensor operations (a few seconds for PTB) on a
generator seeded from the run's seed (`data_generator`), so a run and its resumed continuation
train on the same pairs. A sentence list is kept as one flat tensor of token indices with the
length of each sentence (`Ragged`), and so are the contexts and noise words of every centre.
"""

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from d2l_lightning.core.datamodule import D2LDataLoader, D2LDataModule, TensorBatchDataset, data_generator
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.errors import ConfigError, DataError, check_range
from d2l_lightning.text import Vocab
from d2l_lightning.text.cooccurrence import cooccurrence_counts

FILES = [DataFile(
    "ptb/ptb.train.txt", "sha256:fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    urls=("https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/ptb/ptb.train.txt",))]


@dataclass
class Ragged:
    """Rows of different lengths as one flat tensor `values` and the `lengths` of the rows (a list
    of sentences, or the contexts of every centre)."""

    values: Tensor
    lengths: Tensor

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]]) -> "Ragged":
        values = torch.tensor([v for row in rows for v in row], dtype=torch.long)
        return cls(values, torch.tensor([len(row) for row in rows], dtype=torch.long))

    @property
    def offsets(self) -> Tensor:
        """Where each row starts in `values`."""
        return torch.cumsum(self.lengths, 0) - self.lengths

    def row_ids(self) -> Tensor:
        """The row of every value."""
        return torch.repeat_interleave(torch.arange(len(self.lengths)), self.lengths)

    def to_lists(self) -> list[list[int]]:
        return [row.tolist() for row in torch.split(self.values, self.lengths.tolist())]

    def __len__(self) -> int:
        return len(self.lengths)


def read_ptb(path: Path) -> list[list[str]]:
    """The book's reading: one sentence per line, words split on white space (42,068 sentences in
    ptb.train.txt; rare words are already `<unk>`, numbers `N`)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.split() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"PTB: cannot read {path} ({e}).") from None


def encode_sentences(raw: list[list[str]], vocab: Vocab) -> Ragged:
    """The sentences as vocabulary indices, words outside the vocabulary dropped (the book keeps
    only words seen at least 5 times: 887,100 tokens)."""
    idx = vocab.token_to_idx
    return Ragged.from_lists([[idx[t] for t in st if t in idx] for st in raw])


def subsample(dataset: Ragged, counts: Tensor, t: float, generator: torch.Generator) -> Ragged:
    """10.3.1.2: drop each token of word w with probability 1 - sqrt(t / f(w)), f(w) = count(w) /
    number of tokens (frequent words lose most of their tokens: 'the' keeps ~1/25; words with
    f(w) <= t are all kept). `counts[i]` is word i's count."""
    num_tokens = len(dataset.values)
    f = counts[dataset.values].double() / num_tokens
    discard = torch.rand(num_tokens, generator=generator, dtype=torch.float64) < 1 - torch.sqrt(t / f)
    keep = ~discard
    lengths = torch.zeros(len(dataset), dtype=torch.long).index_add_(0, dataset.row_ids(), keep.long())
    return Ragged(dataset.values[keep], lengths)


def get_centers_and_contexts(dataset: Ragged, max_window_size: int,
                             generator: torch.Generator) -> tuple[Tensor, Ragged]:
    """10.3.1.3: every token of a sentence of at least 2 tokens is a centre; its contexts are the
    tokens at most w positions away in the same sentence (left to right, the centre left out), w
    drawn uniformly from 1..max_window_size for each centre."""
    row = dataset.row_ids()
    start = dataset.offsets[row]
    end = start + dataset.lengths[row]
    centre_pos = torch.nonzero(dataset.lengths[row] >= 2).squeeze(1)  # (positions in `values`)
    start, end = start[centre_pos], end[centre_pos]
    w = torch.randint(1, max_window_size + 1, (len(centre_pos),), generator=generator)
    lo = torch.maximum(start, centre_pos - w)
    hi = torch.minimum(end, centre_pos + w + 1)
    n = hi - lo - 1  # window positions minus the centre
    # positions lo, lo+1, ... for every centre, shifted past the centre itself
    within = torch.arange(int(n.sum())) - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
    pos = torch.repeat_interleave(lo, n) + within
    pos = pos + (pos >= torch.repeat_interleave(centre_pos, n)).long()
    return dataset.values[centre_pos], Ragged(dataset.values[pos], n)


def get_negatives(all_contexts: Ragged, sampling_weights: Tensor, K: int,
                  generator: torch.Generator) -> Ragged:
    """10.3.2: K noise words per context word, drawn with probability proportional to
    `sampling_weights` (the book: count^0.75), never one of the centre's context words (such a
    draw is drawn again, as the book's loop skips it)."""
    lengths = all_contexts.lengths * K
    row = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    vocab_size = len(sampling_weights)
    # (centre, context word) pairs as sorted keys: a draw clashes when its key is among them
    # (a binary search per draw; torch.isin took ~4 s for the 8.5 million draws of PTB)
    context_keys = torch.sort(all_contexts.row_ids() * vocab_size + all_contexts.values).values

    if len(row) == 0:
        return Ragged(torch.zeros(0, dtype=torch.long), lengths)

    def clashes(keys: Tensor) -> Tensor:
        found = torch.searchsorted(context_keys, keys).clamp_(max=len(context_keys) - 1)
        return context_keys[found] == keys

    negatives = torch.multinomial(sampling_weights.double(), len(row), replacement=True, generator=generator)
    todo = torch.arange(len(row))
    for _ in range(1000):  # each round redraws the clashes; PTB needs a handful
        todo = todo[clashes(row[todo] * vocab_size + negatives[todo])]
        if len(todo) == 0:
            return Ragged(negatives, lengths)
        negatives[todo] = torch.multinomial(sampling_weights.double(), len(todo), replacement=True,
                                            generator=generator)
    raise DataError(f"cannot draw noise words for centre {int(row[todo[0]])}: (nearly) every word with a "
                    "sampling weight is one of its context words; the vocabulary is too small.")


def _within(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ..., n_r - 1 for every row r, one after another: each value's place in its row."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths, lengths)


def _take_rows(values: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
               rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, lengths) of the chosen rows of a flat ragged array, in one NumPy gather."""
    n = lengths[rows]
    return values[np.repeat(offsets[rows], n) + _within(n)], n


class SkipGramItems(Sequence):
    """Dataset items of a minibatch, (center, context, negative) each, kept as three flat arrays
    with row lengths instead of hundreds of small arrays: `batchify` pads them with a few NumPy
    operations (per-item Python work took ~5 ms of a ~12 ms training step)."""

    def __init__(self, centers: np.ndarray, contexts: np.ndarray, context_lengths: np.ndarray,
                 negatives: np.ndarray, negative_lengths: np.ndarray):
        self.centers, self.contexts, self.context_lengths = centers, contexts, context_lengths
        self.negatives, self.negative_lengths = negatives, negative_lengths

    @classmethod
    def from_list(cls, data: Sequence[tuple[int, Sequence[int], Sequence[int]]]) -> "SkipGramItems":
        """From the book's items, a list of (center, context, negative)."""
        def flat(rows):
            rows = [np.asarray(r, dtype=np.int64).reshape(-1) for r in rows]
            return (np.concatenate(rows) if rows else np.zeros(0, np.int64),
                    np.array([len(r) for r in rows], dtype=np.int64))
        contexts, n_ctx = flat([c for _, c, _ in data])
        negatives, n_neg = flat([n for _, _, n in data])
        return cls(np.array([int(c) for c, _, _ in data], dtype=np.int64), contexts, n_ctx, negatives, n_neg)

    def __len__(self) -> int:
        return len(self.centers)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        c0 = self.context_lengths[:i].sum()
        n0 = self.negative_lengths[:i].sum()
        return (int(self.centers[i]), self.contexts[c0: c0 + self.context_lengths[i]],
                self.negatives[n0: n0 + self.negative_lengths[i]])


class SkipGramDataset(Dataset):
    """The book's `MyDataset`: item i is (centre, its context words, its noise words). A batch of
    items (`__getitems__`, what the DataLoader asks for) is gathered at once as `SkipGramItems`."""

    def __init__(self, centers: Tensor, contexts: Ragged, negatives: Ragged):
        if not len(centers) == len(contexts) == len(negatives):
            raise ValueError("centers, contexts and negatives must have one row per centre")
        # int32 halves the memory of ~8.5 million noise words; batchify returns int64
        self.centers = centers.int().numpy()
        self.contexts = (contexts.values.int().numpy(), contexts.offsets.numpy(), contexts.lengths.numpy())
        self.negatives = (negatives.values.int().numpy(), negatives.offsets.numpy(), negatives.lengths.numpy())

    def __len__(self) -> int:
        return len(self.centers)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> SkipGramItems:
        rows = np.asarray(indices, dtype=np.int64)
        contexts, n_ctx = _take_rows(*self.contexts, rows)
        negatives, n_neg = _take_rows(*self.negatives, rows)
        return SkipGramItems(self.centers[rows], contexts, n_ctx, negatives, n_neg)


def batchify(data: SkipGramItems | Sequence[tuple[int, Sequence[int], Sequence[int]]],
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """10.3.3 `batchify`: (centers (B, 1), contexts_negatives (B, max_len), masks, labels). Each row
    is the centre's context words then its noise words, padded with 0 to the longest row of the
    batch; `masks` is 1 on real entries, `labels` 1 on the context words (the book's masks and labels
    are int64; here float32, what the loss takes). `data`: the book's list of (center, context,
    negative) items, or `SkipGramItems`."""
    if not isinstance(data, SkipGramItems):
        data = SkipGramItems.from_list(data)
    n_ctx, n_neg = data.context_lengths, data.negative_lengths
    lens = n_ctx + n_neg
    batch, max_len = len(data), int(lens.max()) if len(data) else 0
    contexts_negatives = np.zeros((batch, max_len), dtype=np.int64)
    contexts_negatives[np.repeat(np.arange(batch), n_ctx), _within(n_ctx)] = data.contexts
    # noise words go after each row's context words
    contexts_negatives[np.repeat(np.arange(batch), n_neg), np.repeat(n_ctx, n_neg) + _within(n_neg)] = \
        data.negatives
    pos = np.arange(max_len)
    masks = (pos < lens[:, None]).astype(np.float32)
    labels = (pos < n_ctx[:, None]).astype(np.float32)
    return (torch.from_numpy(data.centers.astype(np.int64)).view(-1, 1), torch.from_numpy(contexts_negatives),
            torch.from_numpy(masks), torch.from_numpy(labels))


class PTBWords(D2LDataModule, metaclass=ABCMeta):
    """What both PTB word-embedding data modules share: the book's reading of ptb.train.txt, the
    vocabulary of words seen at least `min_freq` times, and the query words whose nearest words
    `predict` writes (`similar.csv`: query, rank, token, cosine).

    Args:
        batch_size: examples per minibatch.
        min_freq: keep words seen at least this often (book 5: 887,100 tokens).
        queries: words whose `k` nearest words (cosine similarity) `predict` writes.
        k: nearest words per query (book 3).
        checksum: verify ptb.train.txt's SHA-256 (tests with generated files turn it off).
    """

    prediction_filename = "similar.csv"

    def __init__(self, batch_size: int = 512, min_freq: int = 5, queries: Sequence[str] = ("chip", "baby"),
                 k: int = 3, checksum: bool = True, num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("min_freq", min_freq, ">= 1")
        check_range("k", k, ">= 1")
        if isinstance(queries, str):
            queries = [queries]
        if not queries or any(not isinstance(q, str) or not q.strip() for q in queries):
            raise ConfigError(f"queries must be a list of words, got {list(queries)!r}.")
        self.min_freq, self.queries, self.k, self.checksum = min_freq, list(queries), k, checksum
        self.vocab: Vocab | None = None
        self.dataset: Ragged | None = None  # the sentences as indices, rare words dropped

    def read_sentences(self) -> list[list[str]]:
        path = fetch("PTB", FILES, self.data_dir, verify=self.checksum)[FILES[0].path]
        return read_ptb(path)

    def data_files(self) -> list[DataFile]:
        """What `python -m d2l_lightning data` fetches and verifies for offline use."""
        return list(FILES)

    def setup(self, stage: str | None = None) -> None:
        if self.vocab is None:
            raw = self.read_sentences()
            self.vocab = Vocab((tk for st in raw for tk in st), min_freq=self.min_freq)
            if len(self.vocab) < 2:
                raise DataError(f"PTB: fewer than 2 words are seen {self.min_freq} times or more; lower "
                                "data.init_args.min_freq.")
            self.dataset = encode_sentences(raw, self.vocab)
        if stage == "predict":
            unknown = self.vocab.unknown(self.queries)
            if unknown:
                raise ConfigError(f"query word(s) {', '.join(map(repr, unknown))} not in the vocabulary "
                                  f"({len(self.vocab)} words seen at least {self.min_freq} times in "
                                  "ptb.train.txt); change data.init_args.queries.")
            self.predict_set = list(self.queries)
        elif stage in ("fit", None) and self.train_set is None:
            self.train_set = self.make_train_set(self.dataset)

    @abstractmethod
    def make_train_set(self, dataset: Ragged) -> Dataset:
        """The training examples made from the encoded sentences (each data module's own)."""

    def counts(self) -> Tensor:
        """How often each vocabulary word occurs in ptb.train.txt."""
        return torch.tensor([self.vocab.counts[t] for t in self.vocab.idx_to_token], dtype=torch.long)

    def test_dataloader(self):
        raise ConfigError(f"{type(self).__name__} has no test split: word vectors are looked at through "
                          "their nearest words (`predict`, data.init_args.queries).")

    def predict_dataloader(self):
        return D2LDataLoader(self.predict_set, batch_size=len(self.predict_set), collate_fn=list)


class PTB(PTBWords):
    """10.3: skip-gram examples with negative sampling from ptb.train.txt. Once per run, from the
    run's seed: subsampling (t = 1e-4 leaves ~375k of 887,100 tokens), centres and contexts with a
    window drawn from 1..`max_window_size`, `num_noise_words` noise words per context word (weights
    count^0.75); each epoch shuffles them (book: batch 512; first batch [512, 1], [512, 60] ...).
    Batches are `batchify`'s (centers, contexts_negatives, masks, labels).

    Args:
        subsample_t: the subsampling threshold t (book 1e-4); null = keep every token.
        max_window_size: largest context window (book 5).
        num_noise_words: K, noise words per context word (book 5).
        seed: seed of these random draws; null = the run's seed (`seed_everything`).
        batch_size, min_freq, queries, k, checksum: see `PTBWords`.
    """

    def __init__(self, batch_size: int = 512, min_freq: int = 5, subsample_t: float | None = 1e-4,
                 max_window_size: int = 5, num_noise_words: int = 5, queries: Sequence[str] = ("chip", "baby"),
                 k: int = 3, seed: int | None = None, checksum: bool = True, num_workers: int = 0,
                 data_dir: str | None = None):
        super().__init__(batch_size=batch_size, min_freq=min_freq, queries=queries, k=k, checksum=checksum,
                         num_workers=num_workers, data_dir=data_dir)
        check_range("subsample_t", subsample_t, "> 0", "null = no subsampling.", none_ok=True)
        check_range("max_window_size", max_window_size, ">= 1")
        check_range("num_noise_words", num_noise_words, ">= 1")
        self.subsample_t, self.seed = subsample_t, seed
        self.max_window_size, self.num_noise_words = max_window_size, num_noise_words
        self.subsampled: Ragged | None = None  # the sentences after subsampling

    def generator(self) -> torch.Generator:
        """The data's random draws: from `seed`, else from the run's seed."""
        return data_generator(self.seed if self.seed is not None else torch.initial_seed() % 2**62)

    def collate(self, items):
        return batchify(items)

    def make_train_set(self, dataset: Ragged) -> SkipGramDataset:
        g = self.generator()
        counts = self.counts()
        if self.subsample_t is not None:
            dataset = subsample(dataset, counts, self.subsample_t, g)
        self.subsampled = dataset
        centers, contexts = get_centers_and_contexts(dataset, self.max_window_size, g)
        if len(centers) == 0:
            raise DataError("PTB: no sentence keeps 2 or more words, so there are no centre/context pairs.")
        negatives = get_negatives(contexts, counts.double() ** 0.75, self.num_noise_words, g)
        return SkipGramDataset(centers, contexts, negatives)


class PTBCooccurrence(PTBWords):
    """Beyond the book (10.5 GloVe): the non-zero co-occurrence counts x_ij of ptb.train.txt
    (words seen at least `min_freq` times, pairs at most `window` apart in a sentence, counted both
    ways, a pair d apart adding 1/d as in the GloVe paper); batches (i, j, x_ij), shuffled each epoch.

    Args:
        window: largest distance counted.
        distance_weighting: a pair d apart adds 1/d (else 1).
        batch_size, min_freq, queries, k, checksum: see `PTBWords`.
    """

    def __init__(self, batch_size: int = 4096, min_freq: int = 5, window: int = 5,
                 distance_weighting: bool = True, queries: Sequence[str] = ("chip", "baby"), k: int = 3,
                 checksum: bool = True, num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, min_freq=min_freq, queries=queries, k=k, checksum=checksum,
                         num_workers=num_workers, data_dir=data_dir)
        check_range("window", window, ">= 1")
        self.window, self.distance_weighting = window, distance_weighting

    def make_train_set(self, dataset: Ragged) -> TensorBatchDataset:
        i, j, x = cooccurrence_counts(dataset.values, dataset.lengths, self.window, len(self.vocab),
                                      self.distance_weighting)
        if len(x) == 0:
            raise DataError("PTB: no two words co-occur within the window; nothing to train on.")
        return TensorBatchDataset(i, j, x)
