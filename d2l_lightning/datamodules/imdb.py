"""10.7/10.8 IMDb movie reviews (Maas et al., 2011): 25,000 training and 25,000 test reviews, half
positive, half negative, read straight from the tarball (nothing is extracted), tokenized as the
book does, and the GloVe vectors of the vocabulary for the models' embedding layers."""

import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from d2l_lightning.core.datamodule import D2LDataModule, TensorBatchDataset, data_generator, held_out_count
from d2l_lightning.datamodules.download import DataFile, data_root, fetch
from d2l_lightning.datamodules.glove_files import GLOVE_6B_ZIP, TEXT_MD5, find_glove, glove_candidates
from d2l_lightning.errors import ConfigError, DataError, check_range
from d2l_lightning.text import PAD, UNK, Vocab, truncate_pad
from d2l_lightning.text.embedding import TokenEmbedding, load_pretrained_embedding

#: the original release, downloaded when no copy is found
ORIGINAL = DataFile("aclImdb_v1.tar.gz",
                    "sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe", urls=("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",))
#: the labelled part only (the same 50,000 review texts, without the 50,000 unlabelled reviews and
#: the bag-of-words files), repacked: what ../shared/data holds; used when present
LABELED = DataFile("aclImdb_v1_labeled.tar.gz",
                   "sha256:6f1fa6824f2ed4bcd61fcb4428c6b991a56e096907971d98d7a88eeded97d913")
LABELS = ("negative", "positive")  # label 0, 1 (the book's)
SPLITS = ("train", "test")


def read_imdb(path: str | Path) -> dict[str, list[tuple[str, int]]]:
    """10.7 `read_imdb`, both splits in one pass over the tarball: {"train": [(review, label), ...],
    "test": [...]} with label 1 for `pos`, 0 for `neg`, line breaks removed and lower-cased as the
    book does. Reviews are in file-name order (the book shuffles them with the unseeded global RNG;
    here the training loader shuffles)."""
    reviews: dict[str, list[tuple[str, str, int]]] = {s: [] for s in SPLITS}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:  # in archive order: one sequential pass over the compressed stream
                parts = member.name.split("/")
                if len(parts) == 4 and parts[1] in reviews and parts[2] in ("pos", "neg") and member.isfile():
                    text = tar.extractfile(member).read().decode("utf-8")
                    reviews[parts[1]].append((parts[3], text.replace("\n", "").lower(), int(parts[2] == "pos")))
    except (OSError, EOFError, tarfile.TarError, UnicodeDecodeError) as e:
        raise DataError(f"IMDb: cannot read the reviews in {path} ({e}); the file is corrupt or "
                        "truncated.") from None
    for split, items in reviews.items():
        if not items or len({label for *_, label in items}) < 2:
            raise DataError(f"IMDb: {path} has no positive and negative reviews under aclImdb/{split}/; "
                            "it is not the aclImdb tarball.")
    return {s: [(text, label) for _, text, label in sorted(items, key=lambda r: (-r[2], _file_key(r[0])))]
            for s, items in reviews.items()}


def _file_key(name: str) -> tuple:
    """`123_8.txt` sorts by its number (the original tarball's member order is not sorted)."""
    stem = name.split("_", 1)[0]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def tokenize_review(review: str) -> list[str]:
    """The book's tokenizer (`get_tokenized_imdb`): line breaks dropped, lower-cased, split on single
    spaces (so punctuation stays on its word: `movie.` and `movie` are two tokens)."""
    return review.replace("\n", "").lower().split(" ")


def get_vocab_imdb(tokenized: Sequence[Sequence[str]], min_freq: int = 5) -> Vocab:
    """10.7: words seen at least `min_freq` times in the training reviews, after `<unk>` (index 0)
    and `<pad>` (1), the layout of the book's torchtext vocabulary: 46,152 entries for IMDb (the
    count the book's repository shows; the printed book, with an older torchtext, says 46,151)."""
    return Vocab((t for tokens in tokenized for t in tokens), min_freq=min_freq, reserved=[PAD], unk_token=UNK)


def preprocess_imdb(tokenized: Sequence[Sequence[str]], vocab: Vocab, num_steps: int = 500) -> Tensor:
    """10.7: every review as `num_steps` indices, truncated or padded with `<pad>` (the book pads
    with 0, which is `<unk>` in its torchtext vocabulary). Equal to `truncate_pad` row by row,
    filled into one array (a nested list of 25,000 x 500 Python ints is slow to convert)."""
    out = np.full((len(tokenized), num_steps), vocab.pad, dtype=np.int64)
    for i, tokens in enumerate(tokenized):
        ids = vocab.encode(tokens[:num_steps])
        out[i, : len(ids)] = ids
    return torch.from_numpy(out)


class IMDb(D2LDataModule):
    """10.7/10.8 IMDb sentiment data: reviews as (batch, num_steps) word indices and labels 0/1.

    `val` is the 25,000 test reviews (the book's "test acc"), `test` the same; `vocab` is built
    from the training reviews. `pretrained_vectors()` gives the GloVe vector of every vocabulary
    word in the vocabulary's order (the models load them in their build hook).

    Args:
        batch_size: reviews per minibatch (book 64).
        num_steps: every review is truncated or padded to this many words (book 500).
        min_freq: words seen fewer times in the training reviews become `<unk>` (book 5).
        glove: the pretrained vectors: a name looked up in the data folder's `glove/` (`glove.6B.50d`;
            the book uses `glove.6B.100d`) or a path to a GloVe text file; null = none (the models
            then learn their embeddings from scratch).
        sentences: texts for `predict` (e.g. `["this movie is so great", "this movie is so bad"]`),
            tokenized and padded as the reviews; null = predict the test reviews.
        val_split: 0 = validate on the test reviews (the book); a fraction in (0, 1) or a count
            holds that many training reviews out for validation instead.
        checksum: verify the files (turn off only for your own test fixtures).
        num_workers, data_dir: see `D2LDataModule`.
    """

    labels = LABELS

    def __init__(self, batch_size: int = 64, num_steps: int = 500, min_freq: int = 5,
                 glove: str | None = "glove.6B.50d", sentences: Sequence[str] | None = None,
                 val_split: float = 0, checksum: bool = True, num_workers: int = 0,
                 data_dir: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, data_dir=data_dir)
        check_range("num_steps", num_steps, ">= 1", "Book: 500 words per review.")
        check_range("min_freq", min_freq, ">= 1", "Book: 5.")
        check_range("val_split", val_split, ">= 0",
                    "A fraction in (0, 1) or a count of training reviews to hold out; 0 validates on the "
                    "test reviews.")
        if isinstance(sentences, str):
            sentences = [sentences]
        if sentences is not None:
            if not sentences or any(not isinstance(s, str) for s in sentences):
                raise ConfigError(f"sentences must be a list of texts, got {sentences!r}; null predicts the "
                                  "test reviews.")
            sentences = list(sentences)
        self.num_steps, self.min_freq, self.glove = num_steps, min_freq, glove
        self.sentences, self.val_split, self.checksum = sentences, val_split, checksum
        self.vocab: Vocab | None = None

    # --- files ------------------------------------------------------------------------------------
    def reviews_file(self, verbose: bool = True) -> Path:
        """The repacked labelled tarball when the data folder has it, else the original (downloaded
        if missing); either is verified by its SHA-256."""
        root, origin = data_root(self.data_dir)
        if not self.checksum:
            for f in (LABELED, ORIGINAL):
                if (root / f.path).is_file():
                    return root / f.path
            raise DataError(f"IMDb: missing {root / ORIGINAL.path} and {root / LABELED.path} (checksum=false "
                            f"looks only in the data folder, {root} from {origin}).")
        problem = ""
        if (root / LABELED.path).is_file():
            try:
                return fetch("IMDb", [LABELED], self.data_dir, verbose=verbose)[LABELED.path]
            except DataError as e:
                problem = f"{e} "
        try:
            return fetch("IMDb", [ORIGINAL], self.data_dir, verbose=verbose)[ORIGINAL.path]
        except DataError as e:
            raise DataError(f"{problem}{e} (The labelled part alone, {LABELED.path} with "
                            f"{LABELED.checksum}, is used instead when it is there.)") from None

    def data_files(self) -> list[tuple[DataFile, ...]]:
        """What `python -m d2l_lightning data` fetches and verifies for offline use: the reviews
        (the labelled repack or the original) and the named GloVe vectors (a text file, or the
        archive it is unpacked from)."""
        files = [(LABELED, ORIGINAL)]
        if self.glove in TEXT_MD5:
            files.append((*glove_candidates(self.glove), GLOVE_6B_ZIP))
        return files

    def prepare_data(self) -> None:
        # one process per node, before setup(): a download happens here, never in parallel
        if self.checksum:
            self.reviews_file()

    def setup(self, stage: str | None = None) -> None:
        if self.vocab is not None:
            return
        data = read_imdb(self.reviews_file(verbose=False))
        train = [tokenize_review(r) for r, _ in data["train"]]
        y_train = torch.tensor([label for _, label in data["train"]])
        n_val = held_out_count(self.val_split, len(train), "training reviews")
        held_out = []
        if n_val:  # a fixed permutation, independent of the run's seed
            perm = torch.randperm(len(train), generator=data_generator(0)).tolist()
            held_out = [train[i] for i in perm[-n_val:]]
            y_val = y_train[perm[-n_val:]]
            train, y_train = [train[i] for i in perm[:-n_val]], y_train[perm[:-n_val]]
        self.vocab = get_vocab_imdb(train, self.min_freq)  # from the reviews trained on only
        self.train_set = TensorBatchDataset(preprocess_imdb(train, self.vocab, self.num_steps), y_train)
        test = [tokenize_review(r) for r, _ in data["test"]]
        self.test_set = TensorBatchDataset(preprocess_imdb(test, self.vocab, self.num_steps),
                                           torch.tensor([label for _, label in data["test"]]))
        self.val_set = (TensorBatchDataset(preprocess_imdb(held_out, self.vocab, self.num_steps), y_val)
                        if n_val else self.test_set)
        if self.sentences is not None:
            self.predict_set = TensorBatchDataset(self.encode(self.sentences))

    def encode(self, sentences: Sequence[str]) -> Tensor:
        """Texts as the model sees reviews: the book's tokenizer, unknown words as `<unk>`, truncated
        or padded to `num_steps`. (The book's `predict_sentiment` feeds the bare words; padding them
        as in training gives the models the inputs they were trained on, and lets a sentence shorter
        than TextCNN's widest kernel, or an empty one, get an answer.)"""
        return torch.tensor([truncate_pad(self.vocab.encode(tokenize_review(s)), self.num_steps, self.vocab.pad)
                             for s in sentences], dtype=torch.long).reshape(len(sentences), self.num_steps)

    # --- pretrained vectors -----------------------------------------------------------------------
    def pretrained_vectors(self) -> Tensor | None:
        """(len(vocab), d) GloVe vectors in the vocabulary's order, zeros for the words GloVe lacks
        (`<unk>`, `<pad>` among them); prints how many those are. None when `glove` is null."""
        if self.glove is None:
            return None
        if self.vocab is None:
            raise RuntimeError("IMDb: call setup() before pretrained_vectors()")
        embed = TokenEmbedding(find_glove(self.glove, self.data_dir, verify=self.checksum))
        weights, oov = load_pretrained_embedding(self.vocab.idx_to_token, embed)
        print(f"data: IMDb: {oov} of the {len(self.vocab)} vocabulary words have no vector in "
              f"{embed.path.name} (zeros)", file=sys.stderr)
        return weights

    # --- predict ----------------------------------------------------------------------------------
    def prediction_frame(self, outputs) -> pd.DataFrame:
        df = super().prediction_frame(outputs)
        df.insert(1, "pred_label", [LABELS[i] for i in df["pred"]])
        if self.sentences is not None and len(df) == len(self.sentences):
            df.insert(0, "sentence", self.sentences)
        if "target" in df:
            df["target_label"] = [LABELS[i] for i in df["target"]]
        return df
