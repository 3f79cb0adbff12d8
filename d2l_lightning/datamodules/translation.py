"""10.12 machine translation data: tab-separated sentence pairs, one vocabulary per language with
`<unk>`, `<pad>`, `<bos>`, `<eos>`, and batches ready for teacher forcing.

A batch is `(src, src_valid_len, dec_input, target)`: the source ids with their `<eos>` padded
to the batch's longest, the number of real tokens of each source, and the target ids with their
`<eos>` (`target`) and the same shifted right behind `<bos>` (`dec_input`), both padded with
`<pad>`. So the decoder's input at every step is the true previous word (teacher forcing, the
book's `dec_input = y`) and a model needs no special training step.

Datasets:
- `fr-en-small`: the book's 20 French-English pairs (`fr-en-small.txt`, French first, already
  tokenised: words and punctuation separated by spaces);
- `fra-eng`: the Tatoeba/Anki English-French pairs of the current edition of the book (d2l's
  `fra-eng.zip`, holding `fra-eng/fra.txt`, English first), translated French to English here as in
  the book, lowercased and with a space put before `, . ! ?` as the current edition does;
- `path`: any file of the same form as fr-en-small (source TAB target per line).
"""

import io
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from d2l_lightning.core.datamodule import D2LDataModule, data_generator
from d2l_lightning.datamodules.download import DataFile, data_root, fetch
from d2l_lightning.errors import ConfigError, DataError, check_range
from d2l_lightning.text import EOS, Vocab, bleu, pad_batch

FR_EN_SMALL = DataFile(
    "fr-en-small.txt", "sha256:2fbdf9bbb0dc1f31adb0af10a49c2aa9799de565e1d4bd71257a856d4dc9dbfc",
    urls=("https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/fr-en-small.txt",))
# The SHA-1 is the one d2l itself pins for this file (`DATA_HUB['fra-eng']` in d2l-en's d2l/torch.py).
FRA_ENG = DataFile("fra-eng.zip", "sha1:94646ad1522d915e7b0f9296181140edcf86a4f5",
                   urls=("http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip",))
DATASETS = ("fr-en-small", "fra-eng")

#: the book's two example sentences (10.12) and their references; 'canadiens' of the book is not in
#: the 20 training pairs, 'canadienne' is (the book's repository changed the example the same way)
BOOK_SENTENCES = ("ils regardent .", "ils sont canadienne .")
BOOK_REFERENCES = ("they are watching .", "they are canadian .")


def normalize_fra_eng(text: str) -> str:
    """The current edition's preprocessing of fra.txt: non-breaking spaces become spaces, lower case,
    and a space before , . ! ? that follow a word, so punctuation marks are tokens of their own."""
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    return "".join(" " + c if i > 0 and c in ",.!?" and text[i - 1] != " " else c for i, c in enumerate(text))


def read_pairs(text: str, swap: bool = False, normalize=None) -> list[tuple[list[str], list[str]]]:
    """(source tokens, target tokens) of every line `source<TAB>target[<TAB>...]`; blank lines are
    skipped, a line without a tab is an error naming it."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 2:
            raise DataError(f"line {number} is not 'source<TAB>target': {line[:80]!r}")
        src, tgt = (parts[1], parts[0]) if swap else (parts[0], parts[1])
        if normalize is not None:
            src, tgt = normalize(src), normalize(tgt)
        pairs.append((src.split(), tgt.split()))
    return pairs


class TranslationPairs(D2LDataModule):
    """Sentence pairs for machine translation (10.12).

    Args:
        dataset: `fr-en-small` (the book's 20 pairs) or `fra-eng` (the current edition's Tatoeba
            pairs, downloaded with its checksum when asked for).
        path: a tab-separated file of pairs (source TAB target, tokens separated by spaces) to use
            instead; absolute, or relative to the data folder. Read as is, no checksum.
        swap: translate the other way (target column to source column).
        max_seq_len: pairs with a side longer than max_seq_len - 1 tokens are skipped, as the book's
            `read_data` (book 7: the words plus `<eos>` fit in 7); also the longest translation.
        num_examples: keep the first this many pairs that fit (null = all).
        val_fraction: hold out this fraction of the pairs (drawn with a fixed seed) for `val/loss`
            and `val/bleu`; 0 = validate on the training pairs, as the book evaluates its 20 pairs.
            The vocabularies are built from the training pairs only.
        min_freq: words seen fewer times in the training pairs become `<unk>` (book: 1).
        sentences: what `predict` translates (default: the book's two examples, with references).
        references: the correct translations of `sentences`, for the BLEU column (null = none;
            with `sentences` left at the default: the book's).
        batch_size: pairs per minibatch (book 2).
        checksum: verify the dataset file (tests with generated files turn it off).
    """

    prediction_filename = "translations.csv"

    def __init__(self, dataset: str = "fr-en-small", path: str | None = None, swap: bool = False,
                 max_seq_len: int = 7, num_examples: int | None = None, val_fraction: float = 0.0,
                 min_freq: int = 1, sentences: list[str] | None = None, references: list[str] | None = None,
                 batch_size: int = 2, checksum: bool = True, num_workers: int = 0, data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        if dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r} "
                              "(or give data.init_args.path, a tab-separated file of pairs).")
        check_range("max_seq_len", max_seq_len, ">= 2", "A sentence needs a word and its <eos> (book: 7).")
        check_range("num_examples", num_examples, ">= 1", "null = all pairs.", none_ok=True)
        check_range("val_fraction", val_fraction, "[0, 1)", "0 = validate on the training pairs.")
        check_range("min_freq", min_freq, ">= 1")
        self.dataset, self.path, self.swap = dataset, path, swap
        self.max_seq_len, self.num_examples, self.val_fraction = max_seq_len, num_examples, val_fraction
        self.min_freq, self.checksum = min_freq, checksum
        self.sentences, self.references = self._check_sentences(sentences, references)
        self.src_vocab: Vocab | None = None
        self.tgt_vocab: Vocab | None = None
        self.pairs: list[tuple[list[str], list[str]]] = []

    @staticmethod
    def _check_sentences(sentences, references) -> tuple[list[str], list[str] | None]:
        if sentences is None:
            return list(BOOK_SENTENCES), (list(BOOK_REFERENCES) if references is None else list(references))
        if isinstance(sentences, str):
            sentences = [sentences]
        for i, s in enumerate(sentences):
            if not isinstance(s, str) or not s.strip():
                raise ConfigError(f"data.init_args.sentences[{i}] is empty ({s!r}): give the words to "
                                  "translate, e.g. 'ils regardent .'.")
        if isinstance(references, str):
            references = [references]
        if references is not None and len(references) != len(sentences):
            raise ConfigError(f"data.init_args.references has {len(references)} sentences but sentences has "
                              f"{len(sentences)}: give one reference per sentence (or none).")
        return list(sentences), (list(references) if references is not None else None)

    # --- reading -------------------------------------------------------------------------------------
    def _normalize(self):
        return normalize_fra_eng if self.path is None and self.dataset == "fra-eng" else None

    def read_text(self) -> str:
        if self.path is not None:
            path = Path(self.path).expanduser()
            if not path.is_absolute():
                path = data_root(self.data_dir)[0] / path
            if not path.is_file():
                raise DataError(f"TranslationPairs: no file of pairs at {path} (data.init_args.path). Give a "
                                "tab-separated file, one 'source<TAB>target' pair per line.")
            return path.read_text(encoding="utf-8")
        if self.dataset == "fr-en-small":
            path = fetch("TranslationPairs (fr-en-small)", [FR_EN_SMALL], self.data_dir,
                         verify=self.checksum)[FR_EN_SMALL.path]
            return path.read_text(encoding="utf-8")
        path = fetch("TranslationPairs (fra-eng)", [FRA_ENG], self.data_dir, verify=self.checksum)[FRA_ENG.path]
        try:
            with zipfile.ZipFile(path) as z:
                name = next(n for n in z.namelist() if n.endswith("fra.txt"))
                return io.TextIOWrapper(z.open(name), encoding="utf-8").read()
        except (OSError, StopIteration, zipfile.BadZipFile, UnicodeDecodeError) as e:
            reason = e or "no fra.txt in it"
            raise DataError(f"TranslationPairs: cannot read fra.txt from {path} ({reason}).") from None

    def data_files(self) -> list[DataFile]:
        """What `python -m d2l_lightning data` fetches and verifies for offline use (nothing for a file of
        one's own, `path`)."""
        if self.path is not None:
            return []
        return [FR_EN_SMALL if self.dataset == "fr-en-small" else FRA_ENG]

    def setup(self, stage: str | None = None) -> None:
        if self.src_vocab is None:
            swap = self.swap != (self.path is None and self.dataset == "fra-eng")  # fra.txt is English first
            pairs = read_pairs(self.read_text(), swap=swap, normalize=self._normalize())
            self.set_pairs(pairs)
        if stage == "predict":
            self.predict_set = [(self.encode_source(s, warn=True),) for s in self.sentences]

    def set_pairs(self, pairs: Sequence[tuple[list[str], list[str]]]) -> None:
        """Filters the pairs by length (as the book), splits off validation pairs, builds the
        vocabularies from the training pairs and the stages' datasets."""
        limit = self.max_seq_len - 1  # room for <eos>
        kept = [(s, t) for s, t in pairs if 0 < len(s) <= limit and 0 < len(t) <= limit]
        if self.num_examples is not None:
            kept = kept[: self.num_examples]
        if not kept:
            raise DataError(f"TranslationPairs: none of the {len(pairs)} pairs has both sides of 1 to {limit} "
                            f"tokens (max_seq_len {self.max_seq_len}); raise data.init_args.max_seq_len.")
        self.pairs = kept
        n_val = int(len(kept) * self.val_fraction)
        if n_val:
            order = torch.randperm(len(kept), generator=data_generator(0)).tolist()
            train = [kept[i] for i in sorted(order[n_val:])]
            val = [kept[i] for i in sorted(order[:n_val])]
            if not train:
                raise ConfigError(f"val_fraction={self.val_fraction} leaves no training pairs; lower it.")
        else:
            train, val = kept, kept  # the book evaluates on its training pairs
        self.src_vocab = Vocab.for_sequences((w for s, _ in train for w in s), self.min_freq)
        self.tgt_vocab = Vocab.for_sequences((w for _, t in train for w in t), self.min_freq)
        self.train_set = [self.encode_pair(s, t) for s, t in train]
        self.val_set = [self.encode_pair(s, t) for s, t in val]
        self.test_set = self.val_set

    # --- tokens <-> ids -------------------------------------------------------------------------------
    def encode_pair(self, src: list[str], tgt: list[str]) -> tuple[list[int], list[int]]:
        return (self.src_vocab.encode(src) + [self.src_vocab.eos],
                self.tgt_vocab.encode(tgt) + [self.tgt_vocab.eos])

    def tokens(self, sentence: str) -> list[str]:
        """The words of a sentence (to translate, or a reference), normalised as the dataset's."""
        normalize = self._normalize()
        return (normalize(sentence) if normalize else sentence).split()

    def encode_source(self, sentence: str, warn: bool = False) -> list[int]:
        """Source ids with `<eos>`; unknown words become `<unk>` (named in a warning if `warn`)."""
        tokens = self.tokens(sentence)
        if not tokens:
            raise ConfigError(f"cannot translate an empty sentence ({sentence!r}).")
        unknown = self.src_vocab.unknown(tokens)
        if unknown and warn:
            warnings.warn(f"TranslationPairs: {sentence!r} has words that are not in the source vocabulary "
                          f"of {len(self.src_vocab)} tokens, translated as <unk>: {', '.join(unknown)}",
                          UserWarning, stacklevel=2)
        return self.src_vocab.encode(tokens) + [self.src_vocab.eos]

    def decode_target(self, ids: Sequence[int]) -> str:
        """The words of target ids, up to (without) `<eos>`."""
        words = []
        for i in ids:
            token = self.tgt_vocab.idx_to_token[int(i)]
            if token == EOS:
                break
            words.append(token)
        return " ".join(words)

    # --- batches -------------------------------------------------------------------------------------
    def collate(self, items: list[tuple]) -> tuple[Tensor, ...]:
        """Pairs -> (src, src_valid_len, dec_input, target); sources alone (predict) -> (src,
        src_valid_len). Padded to the longest sequence of the batch."""
        pad = self.src_vocab.pad
        src, src_valid_len = pad_batch([item[0] for item in items], pad)
        if len(items[0]) == 1:
            return src, src_valid_len
        bos, tgt_pad = self.tgt_vocab.bos, self.tgt_vocab.pad
        target, _ = pad_batch([item[1] for item in items], tgt_pad)
        dec_input, _ = pad_batch([[bos] + item[1][:-1] for item in items], tgt_pad)
        return src, src_valid_len, dec_input, target

    # --- predict ---------------------------------------------------------------------------------------
    def _bleu_k(self) -> int:
        model = getattr(self.trainer, "lightning_module", None) if self.trainer is not None else None
        return getattr(model, "bleu_k", 2)  # the model's n-gram order; the book's 2 without one

    def prediction_frame(self, outputs: dict[str, Any]) -> pd.DataFrame:
        """translations.csv: source, translation, reference and its BLEU (empty without references)."""
        translations = [self.decode_target(ids) for ids in outputs["tokens"]]
        references = self.references or [""] * len(translations)
        k = self._bleu_k()
        scores = [round(bleu(t.split(), self.tokens(r), k), 6) if r else float("nan")
                  for t, r in zip(translations, references)]
        return pd.DataFrame({"source": self.sentences[: len(translations)], "translation": translations,
                             "reference": references[: len(translations)], "bleu": scores})

    def prediction_files(self, outputs: dict[str, Any], run_dir) -> list[Path]:
        """attention_<i>.png per sentence, for models with attention: rows the output tokens, columns
        the source tokens (as the encoder saw them: unknown words as <unk>, then <eos>)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        paths = []
        for i, (ids, weights) in enumerate(zip(outputs["tokens"], outputs.get("attention", []))):
            if weights is None:
                continue
            src_ids = self.encode_source(self.sentences[i])
            columns = [self.src_vocab.idx_to_token[j] for j in src_ids]
            rows = [self.tgt_vocab.idx_to_token[j] for j in ids]
            w = torch.as_tensor(weights).float()[:, : len(columns)].numpy()
            fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(columns), 1.0 + 0.45 * len(rows)))
            image = ax.imshow(w, cmap="Reds", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
            ax.set_yticks(range(len(rows)), rows)
            ax.set_xlabel("source")
            ax.set_ylabel("output")
            ax.set_title(self.sentences[i], fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.05)
            fig.tight_layout()
            path = Path(run_dir) / f"attention_{i}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
        return paths
