"""10.6 pretrained word vectors (GloVe) without torchtext: `TokenEmbedding` reads GloVe's text
format (`word v1 ... vd` per line, `.txt` or `.txt.gz`, any dimension d), `knn` finds the nearest
vectors by cosine similarity, `get_similar_tokens` and `get_analogy` are the book's two uses, and
`load_pretrained_embedding` puts the vectors of a vocabulary's words in the vocabulary's order.

Parsing the 400,000 lines of GloVe 6B takes seconds; the parsed tensors are cached in a `.pt`
file, so every later load takes a fraction of a second. The cache remembers the source file's
size, modification time and a hash of its first and last 64 KiB, and is rebuilt when any of them
changes.
"""

import csv
import gzip
import hashlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from d2l_lightning.errors import ConfigError, DataError
from d2l_lightning.text.vocab import UNK

#: bump when the cache's content changes, so old caches are rebuilt
_CACHE_FORMAT = 1
_EDGE = 1 << 16  # bytes at each end of the source file that go into its fingerprint


def _fingerprint(path: Path) -> list:
    stat = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(_EDGE))
        if stat.st_size > _EDGE:
            f.seek(max(stat.st_size - _EDGE, _EDGE))
            h.update(f.read())
    return [_CACHE_FORMAT, stat.st_size, stat.st_mtime_ns, h.hexdigest()]


def default_cache_path(path: Path) -> Path:
    """Where the parsed copy of `path` is kept: beside it (`<file>.pt`) when its folder is
    writable, else in `$XDG_CACHE_HOME/d2l_lightning` (default `~/.cache/d2l_lightning`) under a
    name that includes a hash of the source's full path. A folder without write permission bits
    counts as read-only even for root (a shared, read-only data folder is never written to)."""
    path = Path(path).resolve()
    if os.access(path.parent, os.W_OK) and path.parent.stat().st_mode & 0o222:
        return path.with_name(path.name + ".pt")
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "d2l_lightning"
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return root / f"{path.name}-{digest}.pt"


def _read_text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read word vectors from {path} ({e}); the file is corrupt or "
                        "truncated.") from None


def parse_vectors(text: str, source: str = "<text>") -> tuple[list[str], Tensor]:
    """The tokens and an (n, d) float32 tensor of GloVe's text format. Regular files (one token
    and d numbers per line) are parsed by pandas' C reader; a file with tokens that contain spaces
    (as GloVe 840B has) falls back to a line-by-line parser that takes the last d fields as the
    vector. A line with another number of values is an error naming it."""
    import pandas as pd

    try:
        df = pd.read_csv(io.StringIO(text), sep=" ", header=None, quoting=csv.QUOTE_NONE, na_filter=False,
                         dtype={0: str}, engine="c")
        if df.shape[1] >= 2 and all(dt.kind in "fi" for dt in df.dtypes.iloc[1:]):
            values = df.iloc[:, 1:].to_numpy(np.float32)
            if not np.isnan(values).any():  # (a short line leaves NaNs: the line parser names it)
                return df[0].tolist(), torch.from_numpy(values)
    except (pd.errors.ParserError, ValueError):
        pass
    return _parse_lines(text, source)


def _parse_lines(text: str, source: str) -> tuple[list[str], Tensor]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError(f"{source} has no word vectors.")
    rows = [line.rstrip().split(" ") for line in lines]
    # the dimension is what most lines have; a line with more fields has a token with spaces
    dim = Counter(len(fields) for fields in rows).most_common(1)[0][0] - 1
    tokens, values = [], []
    for i, fields in enumerate(rows, 1):
        if len(fields) < dim + 1:
            raise DataError(f"{source}, line {i}: {len(fields) - 1} values where the other lines have {dim}; "
                            "the file is not in GloVe's format ('word v1 ... vd' per line) or truncated.")
        tokens.append(" ".join(fields[:-dim]))
        values.append(" ".join(fields[-dim:]))
    try:
        flat = np.array(" ".join(values).split(" "), dtype=np.float32)
    except ValueError as e:
        raise DataError(f"{source}: a vector has a value that is not a number ({e}).") from None
    return tokens, torch.from_numpy(flat.reshape(len(tokens), dim))


class TokenEmbedding:
    """10.6: pretrained word vectors (the book's `vocab.GloVe(name='6B', dim=50)`).

    `idx_to_token` / `token_to_idx` (the book's `itos` / `stoi`) keep the file's order, so
    `token_to_idx['beautiful'] == 3366` in GloVe 6B as in the book; an `<unk>` token with a zero
    vector is added after the file's words (`unknown_idx`), and every word not in the file maps
    to it. `vectors` is the (n + 1, d) float32 tensor.

    Args:
        path: a GloVe text file (`.txt` or `.txt.gz`).
        cache: keep the parsed tensors in a `.pt` file (see `default_cache_path`) and reuse them
            while the source file is unchanged; False = always parse.
        cache_path: where to keep them instead of the default place.
    """

    def __init__(self, path: str | os.PathLike, cache: bool = True,
                 cache_path: str | os.PathLike | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"no word-vector file at {self.path}.")
        self.cache_path = Path(cache_path) if cache_path else default_cache_path(self.path)
        self.loaded_from_cache = False
        tokens, vectors = self._load(cache)
        if UNK in tokens:  # the file has its own unknown token: use its vector
            self.unknown_idx = tokens.index(UNK)
        else:
            self.unknown_idx = len(tokens)
            tokens = tokens + [UNK]
            vectors = torch.cat([vectors, vectors.new_zeros(1, vectors.shape[1])])
        self.idx_to_token: list[str] = tokens
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.vectors: Tensor = vectors

    # --- reading -------------------------------------------------------------------------------
    def _load(self, cache: bool) -> tuple[list[str], Tensor]:
        fingerprint = _fingerprint(self.path)
        if cache and self.cache_path.is_file():
            try:
                saved = torch.load(self.cache_path, weights_only=True)
                if saved.get("fingerprint") == fingerprint:
                    self.loaded_from_cache = True
                    return saved["tokens"].split("\n"), saved["vectors"]
            except Exception:  # an unreadable cache is rebuilt, whatever went wrong with it
                pass
        tokens, vectors = parse_vectors(_read_text(self.path), str(self.path))
        if any("\n" in t for t in tokens):
            raise DataError(f"{self.path}: a token contains a line break; not GloVe's format.")
        if cache:
            self._save(fingerprint, tokens, vectors)
        return tokens, vectors

    def _save(self, fingerprint: list, tokens: list[str], vectors: Tensor) -> None:
        # Written to a temporary file and renamed: a reader never sees half a cache. Tokens are kept
        # as one string (GloVe tokens have no line breaks): a list of 400,000 strings loads slower.
        tmp = self.cache_path.with_name(f"{self.cache_path.name}.part-{os.getpid()}")
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"fingerprint": fingerprint, "tokens": "\n".join(tokens), "vectors": vectors}, tmp)
            os.replace(tmp, self.cache_path)
        except OSError as e:
            warnings.warn(f"word vectors not cached ({e}); the next load parses {self.path} again",
                          stacklevel=3)
        finally:
            tmp.unlink(missing_ok=True)

    # --- lookups ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def stoi(self) -> dict[str, int]:  # the book's (torchtext's) names
        return self.token_to_idx

    @property
    def itos(self) -> list[str]:
        return self.idx_to_token

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_idx and token != UNK

    def index(self, token: str) -> int:
        """The index of a word that must be in the file: an unknown one is an error naming it."""
        if token not in self:
            raise ConfigError(f"{token!r} is not in {self.path.name} ({len(self) - 1} words).")
        return self.token_to_idx[token]

    def indices(self, tokens: Iterable[str]) -> list[int]:
        """Indices of `tokens`; unknown words get `unknown_idx`."""
        return [self.token_to_idx.get(t, self.unknown_idx) for t in tokens]

    def __getitem__(self, tokens: str | Sequence[str]) -> Tensor:
        """The vector of a word, or a (len, d) tensor for a list of words; zeros for unknown words."""
        if isinstance(tokens, str):
            return self.vectors[self.token_to_idx.get(tokens, self.unknown_idx)]
        return self.vectors[torch.tensor(self.indices(tokens), dtype=torch.long)]


def knn(W: Tensor, x: Tensor, k: int) -> tuple[list[int], list[float]]:
    """10.6: the `k` rows of W most similar to x by cosine similarity, most similar first: their
    indices and similarities. (The 1e-9 keeps a zero row, such as `<unk>`'s, from dividing by zero.)"""
    cos = W @ x.reshape(-1) / ((W * W).sum(dim=1) + 1e-9).sqrt() / (x * x).sum().sqrt()
    values, topk = torch.topk(cos, k=min(k, len(cos)))
    return topk.tolist(), values.tolist()


def get_similar_tokens(query_token: str, k: int, embed: TokenEmbedding) -> list[tuple[str, float]]:
    """10.6: the k words nearest to `query_token` (itself left out) with their cosine similarities.
    The book prints `cosine sim=0.856: chips`; this returns `[('chips', 0.856...), ...]`."""
    query = embed.index(query_token)
    topk, cos = knn(embed.vectors, embed.vectors[query], k + 1)
    return [(embed.idx_to_token[i], c) for i, c in zip(topk, cos) if i != query][:k]


def get_analogy(token_a: str, token_b: str, token_c: str, embed: TokenEmbedding) -> str:
    """10.6: d in "a is to b as c is to d": the word nearest to vec(b) - vec(a) + vec(c). As in the
    book, the three given words are not excluded (for the book's four examples none of them wins)."""
    a, b, c = (embed.vectors[embed.index(t)] for t in (token_a, token_b, token_c))
    topk, _ = knn(embed.vectors, b - a + c, 1)
    return embed.idx_to_token[topk[0]]


def load_pretrained_embedding(words: Sequence[str], pretrained: TokenEmbedding) -> tuple[Tensor, int]:
    """10.7: a (len(words), d) tensor with the pretrained vector of each word, zeros for words the
    pretrained file lacks, and how many those are. (The book meant to print that count, but its
    counter adds 0 and its message has no argument, so it never showed; here it is returned.)"""
    idx = torch.tensor(pretrained.indices(words), dtype=torch.long)
    missing = idx == pretrained.unknown_idx
    weights = pretrained.vectors[idx].clone()
    weights[missing] = 0.0
    return weights, int(missing.sum())
