"""10.6 `TokenEmbedding` on small GloVe files of several dimensions (plain and gzip), its tensor
cache (reused, and rebuilt when the source changes), `knn` against `F.cosine_similarity`, the
book's nearest words and analogies (on the real GloVe 6B 50d file, `slow`), and bad files."""

import gzip
import os

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_DATA

from d2l_lightning.errors import ConfigError, DataError
from d2l_lightning.text import (
    UNK,
    TokenEmbedding,
    get_analogy,
    get_similar_tokens,
    knn,
    load_pretrained_embedding,
)
from d2l_lightning.text.embedding import default_cache_path, parse_vectors

GLOVE_50D = SHARED_DATA / "glove" / "glove.6B.50d.txt.gz"

# man:woman::king:queen holds exactly (queen = king - man + woman); "apple" is far from all of them
WORDS = {"man": [1.0, 0.0, 0.2], "woman": [1.0, 1.0, 0.2], "king": [1.0, 0.0, 2.0],
         "queen": [1.0, 1.0, 2.0], "apple": [-1.0, 0.1, -0.3], "the": [0.3, 0.3, 0.3]}


def write_glove(path, words=WORDS, gz=None):
    text = "".join(f"{w} {' '.join(repr(x) for x in v)}\n" for w, v in words.items())
    if gz if gz is not None else path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name,dim", [("vec.txt", 3), ("vec.txt.gz", 3), ("vec7.txt.gz", 7)])
def test_reads_glove_text_in_file_order_with_an_unknown_index(tmp_path, name, dim):
    words = {w: [float(i * 10 + j) for j in range(dim)] for i, w in enumerate(WORDS)}
    embed = TokenEmbedding(write_glove(tmp_path / name, words))
    assert embed.dim == dim and len(embed) == len(words) + 1
    assert embed.idx_to_token[: len(words)] == list(words) and embed.stoi["king"] == 2 == embed.index("king")
    assert embed.itos[embed.unknown_idx] == UNK and embed.unknown_idx == len(words)
    assert torch.equal(embed["queen"], torch.tensor(words["queen"]))
    assert torch.equal(embed["no-such-word"], torch.zeros(dim)) and "no-such-word" not in embed
    assert torch.equal(embed[["man", "nope"]], torch.stack([torch.tensor(words["man"]), torch.zeros(dim)]))
    with pytest.raises(ConfigError, match="'nope' is not in"):
        embed.index("nope")


def test_cache_is_reused_and_rebuilt_when_the_source_changes(tmp_path):
    path = write_glove(tmp_path / "vec.txt")
    first = TokenEmbedding(path)
    assert not first.loaded_from_cache and first.cache_path == tmp_path / "vec.txt.pt"
    second = TokenEmbedding(path)
    assert second.loaded_from_cache and second.idx_to_token == first.idx_to_token
    assert torch.equal(second.vectors, first.vectors)
    # another word added: another size
    write_glove(path, {**WORDS, "pear": [0.0, 0.0, 1.0]})
    third = TokenEmbedding(path)
    assert not third.loaded_from_cache and "pear" in third
    # same size and the old modification time, one value changed: the content hash notices
    stat = path.stat()
    changed = {**WORDS, "pear": [0.0, 0.0, 2.0]}
    write_glove(path, changed)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    fourth = TokenEmbedding(path)
    assert not fourth.loaded_from_cache and fourth["pear"][2] == 2.0
    assert TokenEmbedding(path).loaded_from_cache
    # no cache at all, and a cache file that is garbage is rebuilt
    assert not TokenEmbedding(path, cache=False).loaded_from_cache
    fourth.cache_path.write_bytes(b"not a torch file")
    assert not TokenEmbedding(path).loaded_from_cache and TokenEmbedding(path).loaded_from_cache


def test_cache_of_a_read_only_folder_goes_to_the_user_cache(tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = write_glove(folder / "vec.txt")
    folder.chmod(0o555)  # read-only (even for root: the permission bits are what counts)
    try:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        assert default_cache_path(path).parent == tmp_path / "cache" / "d2l_lightning"
        embed = TokenEmbedding(path)
        assert embed.cache_path.is_file() and sorted(p.name for p in folder.iterdir()) == ["vec.txt"]
        assert TokenEmbedding(path).loaded_from_cache
    finally:
        folder.chmod(0o755)


def test_knn_against_cosine_similarity():
    torch.manual_seed(0)
    W, x = torch.randn(200, 8), torch.randn(8)
    idx, cos = knn(W, x, 5)
    ref = F.cosine_similarity(W, x[None], dim=1)
    assert idx == ref.argsort(descending=True)[:5].tolist()
    # (torch.allclose, not torch.testing.assert_close: its first call imports for seconds)
    assert torch.allclose(torch.tensor(cos), ref[idx], atol=1e-6)


def test_similar_tokens_and_analogy(tmp_path):
    embed = TokenEmbedding(write_glove(tmp_path / "vec.txt"))
    similar = get_similar_tokens("king", 3, embed)
    ref = F.cosine_similarity(embed.vectors, embed["king"][None], dim=1)
    order = [embed.itos[i] for i in ref.argsort(descending=True).tolist() if embed.itos[i] != "king"][:3]
    assert [t for t, _ in similar] == order and order[0] == "queen"  # the query itself is left out
    assert [c for _, c in similar] == pytest.approx([ref[embed.stoi[t]].item() for t in order], abs=1e-6)
    assert get_analogy("man", "woman", "king", embed) == "queen"
    with pytest.raises(ConfigError, match="'prince' is not in"):
        get_analogy("man", "woman", "prince", embed)


def test_load_pretrained_embedding_in_vocabulary_order(tmp_path):
    embed = TokenEmbedding(write_glove(tmp_path / "vec.txt"))
    weights, oov = load_pretrained_embedding(["<unk>", "<pad>", "queen", "pear", "man"], embed)
    assert oov == 3 and weights.shape == (5, 3)
    assert torch.equal(weights[2], embed["queen"]) and torch.equal(weights[4], embed["man"])
    assert not weights[[0, 1, 3]].any()


def test_irregular_and_broken_files(tmp_path):
    # tokens with spaces (as GloVe 840B has) fall back to the line parser: the last d fields are the vector
    tokens, vectors = parse_vectors("a b 1 2\nc 3 4\n. . . 5 6\nd 7 8\n")
    assert tokens == ["a b", "c", ". . .", "d"] and vectors.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
    with pytest.raises(DataError, match="short.txt, line 2: 1 values where the other lines have 2"):
        parse_vectors("a 1 2\nb 3\nc 4 5\n", "short.txt")
    with pytest.raises(DataError, match="not a number"):
        parse_vectors("a 1 2\nb x y\n")
    truncated = tmp_path / "cut.txt.gz"
    truncated.write_bytes(gzip.compress(b"a 1 2\n" * 1000)[:-30])
    with pytest.raises(DataError, match="corrupt or truncated"):
        TokenEmbedding(truncated)
    with pytest.raises(DataError, match="no word-vector file"):
        TokenEmbedding(tmp_path / "missing.txt")


@pytest.mark.slow
@pytest.mark.skipif(not GLOVE_50D.is_file(), reason="GloVe 6B 50d (../shared/data) not present")
def test_book_tables_on_glove_6b_50d():
    embed = TokenEmbedding(GLOVE_50D)
    assert len(embed) == 400_000 + 1 and embed.stoi["beautiful"] == 3366 and embed.itos[3366] == "beautiful"
    book = {"chip": [("chips", 0.856), ("intel", 0.749), ("electronics", 0.749)],
            "baby": [("babies", 0.839), ("boy", 0.800), ("girl", 0.792)],
            "beautiful": [("lovely", 0.921), ("gorgeous", 0.893), ("wonderful", 0.830)]}
    for word, expected in book.items():
        assert [(t, round(c, 3)) for t, c in get_similar_tokens(word, 3, embed)] == expected
    for a, b, c, d in [("man", "woman", "son", "daughter"), ("beijing", "china", "tokyo", "japan"),
                       ("bad", "worst", "big", "biggest"), ("do", "did", "go", "went")]:
        assert get_analogy(a, b, c, embed) == d
