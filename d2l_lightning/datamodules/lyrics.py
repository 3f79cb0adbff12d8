"""6.3 Jay Chou lyrics: a character-level language-model corpus, and the book's two ways of cutting
a long sequence into minibatches (random and consecutive sampling)."""

import zipfile
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from d2l_lightning.core.datamodule import (
    D2LDataLoader,
    D2LDataModule,
    EpochShuffleSampler,
    TensorBatchDataset,
    keep_batch,
)
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.errors import ConfigError, DataError, check_range
from d2l_lightning.text import Vocab

FILES = [DataFile(
    "jaychou_lyrics.txt.zip", "sha256:3cfedd7d174111cdad5a27eaffaa6a2432a2842cf2590a03dd8a97610ea07043",
    urls=("https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/jaychou_lyrics.txt.zip",))]
SAMPLINGS = ("random", "consecutive")


def random_examples(corpus: Tensor, num_steps: int) -> TensorBatchDataset:
    """6.3 `data_iter_random`'s examples: the non-overlapping windows corpus[j*n : j*n+n] (n =
    num_steps) with labels shifted by one; a shuffled sampler then groups them into minibatches."""
    num_examples = (len(corpus) - 1) // num_steps
    X = corpus[: num_examples * num_steps].reshape(num_examples, num_steps)
    Y = corpus[1: num_examples * num_steps + 1].reshape(num_examples, num_steps)
    return TensorBatchDataset(X, Y)


class ConsecutiveBatches(Dataset):
    """6.3 `data_iter_consecutive`: the corpus cut into `batch_size` rows; batch i is columns
    [i*n, i*n+n) of every row (labels shifted by one), so row b of batch i+1 continues row b of
    batch i and a model may carry its state from one batch to the next. Items are whole batches,
    read in order."""

    def __init__(self, corpus: Tensor, batch_size: int, num_steps: int):
        batch_len = len(corpus) // batch_size
        self.rows = corpus[: batch_size * batch_len].reshape(batch_size, batch_len)
        self.num_steps = num_steps
        self.num_batches = max((batch_len - 1) // num_steps, 0)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        if not 0 <= i < self.num_batches:
            raise IndexError(i)
        s = i * self.num_steps
        return self.rows[:, s: s + self.num_steps], self.rows[:, s + 1: s + self.num_steps + 1]


class CharSequenceData(D2LDataModule):
    """Base of character-level language-model data: a corpus of token indices, a `Vocab`, minibatches
    of (X, Y) with shape (batch_size, num_steps) and Y the next token of X, and the prefixes that
    `predict` (and sampling during training) continue.

    Args:
        batch_size: sequences per minibatch (book 32).
        num_steps: time steps per sequence (book 35).
        sampling: `random` (6.3 `data_iter_random`: shuffled windows, the model starts every batch
            from a zero state) or `consecutive` (`data_iter_consecutive`: in order, the model carries
            its state from batch to batch, detached).
        prefixes: texts to continue when generating (book: 分开, 不分开).
        pred_len: characters generated after each prefix (book 50).
        temperature: 0 = greedy (the book's argmax); > 0 samples from softmax(logits / temperature).
        val_fraction: hold out the last fraction of the corpus as validation text (`val/ppl`,
            evaluated in order with the state carried); 0 = none, as the book.
    """

    prediction_filename = "generated.csv"

    def __init__(self, batch_size: int = 32, num_steps: int = 35, sampling: str = "consecutive",
                 prefixes: Sequence[str] = ("分开", "不分开"), pred_len: int = 50, temperature: float = 0.0,
                 val_fraction: float = 0.0, num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("val_fraction", val_fraction, "[0, 1)", "0 = no validation text.")
        self.val_fraction = val_fraction
        check_range("num_steps", num_steps, ">= 1", "Set data.init_args.num_steps (book: 35).")
        if sampling not in SAMPLINGS:
            raise ConfigError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}.")
        if isinstance(prefixes, str):
            prefixes = [prefixes]
        if not prefixes or any(not isinstance(p, str) or not p for p in prefixes):
            raise ConfigError(f"prefixes must be a list of non-empty strings, got {list(prefixes)!r}: "
                              "generation continues a prefix, so it needs at least one character.")
        check_range("pred_len", pred_len, ">= 0")
        check_range("temperature", temperature, ">= 0", "0 = greedy.")
        self.num_steps, self.sampling = num_steps, sampling
        self.prefixes, self.pred_len, self.temperature = list(prefixes), pred_len, temperature
        self.vocab: Vocab | None = None
        self.corpus: Tensor | None = None

    def set_corpus(self, corpus: Sequence[int] | Tensor, vocab: Vocab | None = None) -> None:
        """Builds the stages' datasets from a sequence of token indices."""
        corpus = torch.as_tensor(corpus, dtype=torch.long)
        if vocab is not None:
            self.vocab = vocab
            for p in self.prefixes:
                missing = vocab.unknown(p)
                if missing:
                    raise ConfigError(f"prefix {p!r} has characters that are not in the training text "
                                      f"(vocabulary of {len(vocab)}): {', '.join(map(repr, missing))}. "
                                      "Change data.init_args.prefixes.")
        n_val = int(len(corpus) * self.val_fraction)
        if n_val:
            val_corpus, corpus = corpus[len(corpus) - n_val:], corpus[: len(corpus) - n_val]
            self.val_set = ConsecutiveBatches(val_corpus, self.batch_size, self.num_steps)
            if len(self.val_set) == 0:
                raise ConfigError(f"val_fraction={self.val_fraction} holds out {n_val} tokens, fewer than one "
                                  f"minibatch needs ({self.batch_size * (self.num_steps + 1)}); raise it.")
        self.corpus = corpus
        consecutive = ConsecutiveBatches(corpus, self.batch_size, self.num_steps)
        if len(consecutive) == 0:
            raise ConfigError(f"a corpus of {len(corpus)} tokens gives no minibatch of batch_size "
                              f"{self.batch_size} x num_steps {self.num_steps} (it needs at least "
                              f"{self.batch_size * (self.num_steps + 1)}); lower them.")
        self.train_set = (consecutive if self.sampling == "consecutive"
                          else random_examples(corpus, self.num_steps))
        self.test_set = consecutive  # test perplexity: the whole corpus in order, state carried
        self.predict_set = list(self.prefixes)

    def carries_state(self, stage: str) -> bool:
        """Whether consecutive batches of `stage` continue each other (the model keeps its state)."""
        return stage in ("val", "test") or (stage == "train" and self.sampling == "consecutive")

    def train_dataloader(self) -> DataLoader:
        if self.sampling == "consecutive":
            if self.trainer is not None and self.trainer.world_size > 1:
                # a distributed sampler would deal batch 0 to rank 0, batch 1 to rank 1, ...: no rank
                # would see consecutive batches, and carrying the state would be wrong
                raise ConfigError("sampling: consecutive works on one device only (each rank would get "
                                  "every n-th batch); use sampling: random with several devices.")
            # (resumed mid-epoch, the hidden state carried into the skipped batches starts afresh)
            return D2LDataLoader(self.train_set, batch_size=None, shuffle=False, num_workers=self.num_workers,
                                 skip_batches=self.take_resume_batches())
        sampler = EpochShuffleSampler(len(self.train_set), torch.initial_seed())
        return D2LDataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, drop_last=True,
                             collate_fn=keep_batch, num_workers=self.num_workers,
                             skip_batches=self.take_resume_batches())

    def val_dataloader(self):
        return D2LDataLoader(self.val_set, batch_size=None) if self.val_set is not None else []

    def test_dataloader(self) -> DataLoader:
        return D2LDataLoader(self.test_set, batch_size=None)

    def predict_dataloader(self) -> DataLoader:
        return D2LDataLoader(self.predict_set, batch_size=1, collate_fn=list)


class JayChouLyrics(CharSequenceData):
    """6.3: the lyrics of Jay Chou's first ten albums (`jaychou_lyrics.txt.zip`), newlines replaced by
    spaces, the first `num_chars` characters (book 10,000: a vocabulary of 1027 characters).

    Args:
        num_chars: characters of the text used (null = all 64,925).
        checksum: verify the zip's SHA-256 (tests with generated files turn it off).
        batch_size, num_steps, sampling, prefixes, pred_len, temperature, val_fraction: see
            `CharSequenceData`.
    """

    def __init__(self, batch_size: int = 32, num_steps: int = 35, sampling: str = "consecutive",
                 num_chars: int | None = 10000, prefixes: Sequence[str] = ("分开", "不分开"),
                 pred_len: int = 50, temperature: float = 0.0, val_fraction: float = 0.0,
                 checksum: bool = True, num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_steps=num_steps, sampling=sampling, prefixes=prefixes,
                         pred_len=pred_len, temperature=temperature, val_fraction=val_fraction,
                         num_workers=num_workers, data_dir=data_dir)
        check_range("num_chars", num_chars, ">= 2", "null = all the text.", none_ok=True)
        self.num_chars, self.checksum = num_chars, checksum

    def read_text(self) -> str:
        path = fetch("JayChouLyrics", FILES, self.data_dir, verify=self.checksum)[FILES[0].path]
        try:
            with zipfile.ZipFile(path) as zin, zin.open("jaychou_lyrics.txt") as f:
                text = f.read().decode("utf-8")
        except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            raise DataError(f"JayChouLyrics: cannot read jaychou_lyrics.txt from {path} ({e}).") from None
        return text.replace("\n", " ").replace("\r", " ")[: self.num_chars]

    def data_files(self) -> list[DataFile]:
        """What `python -m d2l_lightning data` fetches and verifies for offline use."""
        return list(FILES)

    def setup(self, stage: str | None = None) -> None:
        if self.corpus is not None:
            return
        text = self.read_text()
        vocab = Vocab(text)
        self.set_corpus(vocab.encode(text), vocab)
