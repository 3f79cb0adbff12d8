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
