"""Tiny generated datasets in the real on-disk formats, for fast offline tests."""

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    magic = (0x08 << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_fashion_mnist(root: Path, n_train: int = 96, n_test: int = 48, seed: int = 0) -> Path:
    """Images whose brightness pattern depends on the class, so a model can learn something."""
    rng = np.random.default_rng(seed)
    raw = Path(root) / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, c in enumerate(labels):
            images[i, c * 2: c * 2 + 6, :] += 180
        img_name, lbl_name = FASHION_FILES[split]
        (raw / img_name).write_bytes(gzip.compress(idx_bytes(images)))
        (raw / lbl_name).write_bytes(gzip.compress(idx_bytes(labels)))
    return Path(root)


def make_kaggle_house(root: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """The competition's CSV layout: Id first, numeric and text columns with gaps, SalePrice last."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "kaggle_house"
    folder.mkdir(parents=True, exist_ok=True)

    def table(n: int, start_id: int) -> pd.DataFrame:
        area = rng.normal(1500, 400, n).round()
        area[rng.random(n) < 0.1] = np.nan
        df = pd.DataFrame({
            "Id": np.arange(start_id, start_id + n),
            "MSSubClass": rng.choice([20, 60, 90], n),
            "LotArea": area,
            "Street": rng.choice(["Pave", "Grvl", None], n),
            "Neighborhood": rng.choice(["NAmes", "CollgCr", "OldTown"], n),
        })
        return df

    train = table(n_train, 1)
    train["SalePrice"] = (50_000 + 100 * np.nan_to_num(train["LotArea"], nan=1500)
                          + rng.normal(0, 5000, n_train)).round()
    table(n_test, n_train + 1).to_csv(folder / "test.csv", index=False)
    train.to_csv(folder / "train.csv", index=False)
    return Path(root)


def make_airfoil(root: Path, n: int = 60, seed: int = 0) -> Path:
    """Tab-separated rows of 5 features and a target, like airfoil_self_noise.dat."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * [1000, 5, 0.1, 40, 0.01] + [2000, 5, 0.1, 50, 0.01]
    y = X @ np.array([-0.001, -0.5, -10.0, 0.05, -100.0]) + 125 + rng.normal(0, 1, n)
    rows = np.column_stack([X, y])
    Path(root).mkdir(parents=True, exist_ok=True)
    np.savetxt(Path(root) / "airfoil_self_noise.dat", rows, delimiter="\t", fmt="%.6f")
    return Path(root)


LYRICS_PHRASES = ["不分开", "我想你", "分开了", "你的爱", "就是一个人", "要在天上走", "我能说"]


def make_lyrics(root: Path, n_lines: int = 60, seed: int = 0) -> Path:
    """`jaychou_lyrics.txt.zip` with short lines of a few repeated phrases (so there is something to
    learn; 21 distinct characters and the space) that contain the book's prefixes 分开 and 不分开."""
    import zipfile

    rng = np.random.default_rng(seed)
    lines = [" ".join(rng.choice(LYRICS_PHRASES, size=rng.integers(2, 5))) for _ in range(n_lines)]
    text = "\n".join(lines) + "\n"
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "jaychou_lyrics.txt.zip", "w") as z:
        z.writestr("jaychou_lyrics.txt", text.encode("utf-8"))
    return root


# --- chapter 10.6-10.8: IMDb reviews and GloVe vectors -----------------------------------------------
IMDB_FILLER = ["this", "movie", "is", "so", "the", "film", "a", "plot", "and", "actors", "story", "was"]
IMDB_POSITIVE = ["great", "wonderful", "loved", "best", "beautiful"]
IMDB_NEGATIVE = ["bad", "awful", "boring", "worst", "terrible"]


def make_imdb(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0,
              name: str = "aclImdb_v1_labeled.tar.gz") -> Path:
    """An aclImdb tarball (`aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt` plus the README and
    url lists the reader must skip): short reviews of filler words with positive or negative words
    mixed in (so a model can learn), capitals, `<br />` tags and a line break as in the real files,
    and one review longer than 500 words."""
    import io
    import tarfile

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    def review(positive: bool, n_words: int) -> str:
        words = list(rng.choice(IMDB_FILLER, size=n_words))
        cue = IMDB_POSITIVE if positive else IMDB_NEGATIVE
        for _ in range(max(1, n_words // 5)):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue)))
        words[0] = words[0].capitalize()
        return " ".join(words[: n_words // 2]) + ".<br /><br />" + " ".join(words[n_words // 2:]) + "\n"

    with tarfile.open(root / name, "w:gz") as tar:
        def add(path: str, text: str) -> None:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("aclImdb/README", "Large Movie Review Dataset v1.0 (a tiny generated copy)\n")
        for split, n in (("train", n_train), ("test", n_test)):
            for label in ("neg", "pos"):
                add(f"aclImdb/{split}/urls_{label}.txt", "http://www.imdb.com/title/tt0/usercomments\n" * n)
                for i in range(n // 2):
                    n_words = 600 if (split, label, i) == ("train", "pos", 0) else int(rng.integers(8, 30))
                    rating = int(rng.integers(7, 11)) if label == "pos" else int(rng.integers(1, 5))
                    add(f"aclImdb/{split}/{label}/{i}_{rating}.txt", review(label == "pos", n_words))
    return root


def make_glove(root: Path, dim: int = 50, name: str = "glove.6B.50d", seed: int = 0) -> Path:
    """`glove/<name>.txt.gz` in GloVe's text format (`word v1 ... vd`, values written as GloVe writes
    them) for the tiny IMDb words and a few others; positive and negative words point in opposite
    directions along the first axis (so each one's nearest words share its sentiment). Some IMDb
    words are left out (out-of-vocabulary)."""
    rng = np.random.default_rng(seed)
    words = [w for w in IMDB_FILLER if w not in ("plot", "actors")] + IMDB_POSITIVE + IMDB_NEGATIVE + [
        ",", ".", "of", "chip", "chips", "intel"]
    lines = []
    for w in words:
        v = rng.normal(0, 0.3, dim)
        v[0] = 3.0 if w in IMDB_POSITIVE else -3.0 if w in IMDB_NEGATIVE else v[0]
        lines.append(w + " " + " ".join(repr(float(np.float32(x))) for x in v))
    folder = Path(root) / "glove"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    return Path(root)


# --- chapter 10.3-10.5: Penn Treebank sentences -------------------------------------------------------
PTB_TOPICS = [
    ["chip", "intel", "drives", "hard-disk", "computer", "memory", "software"],
    ["baby", "mother", "child", "born", "family", "hospital", "parents"],
    ["stock", "market", "shares", "prices", "trading", "investors", "N"],
]
PTB_FILLER = ["the", "a", "of", "<unk>", "in", "and", "to"]


def make_ptb(root: Path, n_lines: int = 150, seed: int = 0) -> Path:
    """`ptb/ptb.train.txt` in the real format (one sentence per line with a leading and a trailing
    space, `<unk>` and `N` as words): each sentence mixes filler words with the words of one topic
    (computers, family, markets), so words of a topic share contexts and become neighbours (every
    word well over 5 times), plus two words seen only 3 times, below the book's min_freq."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_lines):
        topic = PTB_TOPICS[i % len(PTB_TOPICS)]
        words = [str(w) for w in rng.choice(topic + PTB_FILLER, size=int(rng.integers(4, 12)))]
        lines.append(" " + " ".join(words) + " ")
    for i in range(3):
        lines[i] = lines[i] + "rareword oddword "
    folder = Path(root) / "ptb"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ptb.train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(root)


# --- chapter 10.9-10.12: French-English sentence pairs ------------------------------------------------
TRANSLATION_SUBJECTS = [("il est", "he is"), ("elle est", "she is"), ("ils sont", "they are"),
                        ("nous sommes", "we are")]
TRANSLATION_WORDS = [("grand", "tall"), ("petit", "small"), ("content", "happy"), ("fatigue", "tired"),
                     ("malade", "sick"), ("pret", "ready")]


def make_translation_pairs(root: Path) -> Path:
    """The book's `fr-en-small.txt` form (French TAB English, tokens separated by spaces) with 24
    pairs 'il est grand .' -> 'he is tall .' (word for word, so a model learns them quickly) and
    one pair too long for max_seq_len 7; and the same pairs as d2l's `fra-eng.zip`
    (`fra-eng/fra.txt`: English first, capitals, punctuation glued to the word, a third
    attribution column as in the Tatoeba export)."""
    import zipfile

    pairs = [(f"{fs} {fw} .", f"{es} {ew} .")
             for fs, es in TRANSLATION_SUBJECTS for fw, ew in TRANSLATION_WORDS]
    pairs.append(("il est tres tres tres grand .", "he is very very very tall ."))  # 7 tokens: skipped
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "fr-en-small.txt").write_text("".join(f"{fr}\t{en}\n" for fr, en in pairs), encoding="utf-8")
    raw = "".join(f"{en[:-2].capitalize()}.\t{fr[:-2].capitalize()}\u202f!\tCC-BY 2.0 (France)\n"
                  for fr, en in pairs)
    with zipfile.ZipFile(root / "fra-eng.zip", "w") as z:
        z.writestr("fra-eng/fra.txt", raw.encode("utf-8"))
    return root


def make_cifar10(root: Path, n_train: int = 60, n_test: int = 30, seed: int = 0) -> Path:
    """`cifar-10-python.tar.gz` in the real layout: `cifar-10-batches-py/data_batch_1..5` and
    `test_batch`, pickled dicts of b"data" (n, 3072 uint8, channel-major) and b"labels"; each
    class is brighter in its own band of rows of the red channel."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    def batch(n: int) -> bytes:
        labels = (np.arange(n) % 10).tolist()
        images = rng.integers(0, 60, size=(n, 3, 32, 32))
        for i, c in enumerate(labels):
            images[i, 0, c * 3: c * 3 + 3] += 180
        return pickle.dumps({b"data": images.reshape(n, -1).astype(np.uint8), b"labels": labels})

    sizes = {f"data_batch_{i}": n_train // 5 for i in range(1, 6)} | {"test_batch": n_test}
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, n in sizes.items():
            data = batch(n)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return root


def make_image_folder(root: Path, folder: str = "hotdog", n_per_class: int = 4, seed: int = 0) -> Path:
    """`<folder>/{train,test}/{hotdog,not-hotdog}/*.jpg`: JPEGs of various sizes, the hot dogs
    reddish, the others bluish."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for c, name in enumerate(("hotdog", "not-hotdog")):
            d = Path(root) / folder / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                h, w = rng.integers(40, 90, size=2)
                img = rng.integers(0, 80, size=(h, w, 3))
                img[..., 0 if c == 0 else 2] += 170
                Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.jpg", quality=90)
    return Path(root)
