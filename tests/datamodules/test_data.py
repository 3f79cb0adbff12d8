"""Data modules on generated data, the real data when ../shared/data is there, and the data
lookup's errors: checksum mismatch, missing files offline, truncated files, atomic downloads."""

import gzip
import hashlib
import shutil

import pytest
import torch
from conftest import SHARED_DATA
from helpers.cli import QUIET, REPO, run_cli

from d2l_lightning.datamodules import FashionMNIST, KaggleHouse, PolynomialData, SyntheticLinear
from d2l_lightning.datamodules.download import DataFile, fetch
from d2l_lightning.datamodules.fashion_mnist import read_idx
from d2l_lightning.datamodules.kaggle_house import k_fold_indices
from d2l_lightning.errors import ConfigError, DataError

needs_real_data = pytest.mark.skipif(not (SHARED_DATA / "FashionMNIST").is_dir(),
                                     reason="real data (../shared/data) not present")


# --- generated data -------------------------------------------------------------------------------
def test_synthetic_linear_follows_the_model_and_is_seeded():
    dm = SyntheticLinear(num_train=1000, true_w=(2, -3.4), true_b=4.2, noise=0.01)
    X, y = dm.train_set.tensors
    assert X.shape == (1000, 2) and y.shape == (1000, 1)
    assert (y - (X @ torch.tensor([[2.0], [-3.4]]) + 4.2)).std() < 0.012
    assert dm.val_set is dm.train_set  # the book watches the loss on the training data
    assert torch.equal(SyntheticLinear(seed=0).train_set.tensors[0], X)
    assert not torch.equal(SyntheticLinear(seed=1).train_set.tensors[0], X)
    hd = SyntheticLinear(num_train=20, num_val=100, num_inputs=200, true_w=0.01, true_b=0.05)
    assert len(hd.train_set) == 20 and len(hd.val_set) == 100 and hd.true_w.shape == (200,)
    with pytest.raises(ConfigError):
        SyntheticLinear(num_inputs=3, true_w=(1.0, 2.0))
    with pytest.raises(ConfigError):
        SyntheticLinear(batch_size=0)


def test_polynomial_features_and_fixed_test_split():
    dm = PolynomialData(num_train=100, num_test=100)
    X, y = dm.train_set.tensors
    assert torch.allclose(X[:, 1], X[:, 0] ** 2) and torch.allclose(X[:, 2], X[:, 0] ** 3)
    pred = X @ torch.tensor([[1.2], [-3.4], [5.6]]) + 5
    assert (y - pred).abs().max() < 0.05
    over = PolynomialData(num_train=2, num_test=100, batch_size=2)
    assert len(over.train_set) == 2
    assert torch.equal(over.val_set.tensors[0], dm.val_set.tensors[0])
    assert torch.equal(over.train_set.tensors[0], X[:2])
    lin = PolynomialData(features="linear")
    assert lin.train_set.tensors[0].shape == (100, 1)


def test_fashion_mnist_tiny(fashion_dir):
    dm = FashionMNIST(batch_size=16, data_dir=str(fashion_dir), checksum=False)
    dm.setup("fit")
    assert len(dm.train_set) == 96 and dm.val_set is dm.test_set and len(dm.test_set) == 48
    X, y = dm.transform(next(iter(dm.train_dataloader())))
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= X.min() and X.max() <= 1
    big = FashionMNIST(batch_size=4, resize=96, data_dir=str(fashion_dir), checksum=False)
    big.setup("fit")
    assert big.example_batch()[0].shape == (2, 1, 96, 96)
    held = FashionMNIST(val_split=0.25, train_subset=10, data_dir=str(fashion_dir), checksum=False)
    held.setup("fit")
    assert len(held.val_set) == 24 and len(held.train_set) == 10 and held.val_set is not held.test_set
    assert FashionMNIST.labels[9] == "ankle boot"
    for bad in (dict(batch_size=0), dict(resize=0), dict(val_split=-1), dict(train_subset=0)):
        with pytest.raises(ConfigError):
            FashionMNIST(**bad)


def test_shuffling_depends_on_seed_and_epoch_only(fashion_dir):
    dm = FashionMNIST(batch_size=8, data_dir=str(fashion_dir), checksum=False)
    dm.setup("fit")
    torch.manual_seed(3)
    loader = dm.train_dataloader()
    first = [b[1] for b in loader]
    torch.rand(100)  # consuming the global RNG changes nothing
    assert all(torch.equal(a, b[1]) for a, b in zip(first, loader))
    loader.sampler.set_epoch(1)
    assert not all(torch.equal(a, b[1]) for a, b in zip(first, loader))
    assert sorted(torch.cat(first).tolist()) == sorted(dm.train_set.tensors[1].tolist())


def test_loaders_leave_the_global_rng_alone_and_skip_trained_batches(fashion_dir):
    dm = FashionMNIST(batch_size=8, data_dir=str(fashion_dir), checksum=False)
    dm.setup("fit")
    torch.manual_seed(0)
    full = [b[1] for b in dm.train_dataloader()]
    state = torch.get_rng_state()
    iter(dm.val_dataloader()), iter(dm.train_dataloader())  # a plain DataLoader draws a seed here
    assert torch.equal(torch.get_rng_state(), state)
    dm.load_state_dict({"train_batches_done": 5})  # what a mid-epoch checkpoint holds
    loader = dm.train_dataloader()
    rest = [b[1] for b in loader]
    assert len(rest) == len(full) - 5 and all(torch.equal(a, b) for a, b in zip(full[5:], rest))
    assert len([b for b in loader]) == len(full)  # only the first pass skips


def test_tensor_batch_dataset_gathers_like_torch_indexing():
    from d2l_lightning.core.datamodule import TensorBatchDataset

    tensors = (torch.randint(0, 255, (50, 4, 3), dtype=torch.uint8), torch.randn(50, 2).to(torch.bfloat16),
               torch.randn(50, 6)[:, ::2], torch.arange(50))
    idx = [7, 0, 49, 7, 12]
    for got, t in zip(TensorBatchDataset(*tensors).__getitems__(idx), tensors):
        assert got.dtype == t.dtype and torch.equal(got, t[torch.tensor(idx)])


def test_kaggle_house_tiny_and_book_folds(house_dir):
    dm = KaggleHouse(data_dir=str(house_dir), checksum=False, fold=1, num_folds=5)
    dm.setup("fit")
    # 2 numeric (Id is dropped) + Street (2 values + NA) + Neighborhood (3 values + NA)
    assert dm.num_features == 2 + 3 + 4
    assert len(dm.train_set) == 48 and len(dm.val_set) == 12 and len(dm.predict_set) == 20
    X = dm.train_set.tensors[0]
    assert not torch.isnan(X).any()
    train, val = k_fold_indices(1460, 5, 4)
    assert val.tolist() == list(range(1168, 1460)) and len(train) == 1168
    train, val = k_fold_indices(13, 3, 0)  # 13 // 3 = 4 per fold; row 12 is dropped as in the book
    assert val.tolist() == [0, 1, 2, 3] and train.tolist() == [4, 5, 6, 7, 8, 9, 10, 11]
    with pytest.raises(ConfigError):
        KaggleHouse(fold=5, num_folds=5)
    logged = KaggleHouse(data_dir=str(house_dir), checksum=False, log_skewed=True)
    logged.setup("fit")
    assert logged.num_features == dm.num_features and logged.val_set is None
    assert not torch.equal(logged.train_set.tensors[0], torch.cat([dm.train_set.tensors[0],
                                                                   dm.val_set.tensors[0]]))


# --- real data ----------------------------------------------------------------------------------
@needs_real_data
def test_real_fashion_mnist_and_house(monkeypatch, capsys):
    monkeypatch.setenv("D2L_DATA_DIR", str(SHARED_DATA))
    dm = FashionMNIST()
    dm.prepare_data()
    assert "found in" in capsys.readouterr().err
    dm.setup("fit")
    assert len(dm.train_set) == 60000 and len(dm.test_set) == 10000
    assert torch.bincount(dm.test_set.tensors[1]).tolist() == [1000] * 10
    house = KaggleHouse()
    house.setup("fit")
    assert len(house.train_set) == 1460 and len(house.predict_set) == 1459
    # numeric-only fillna with current pandas (the book's 354 features came from fillna(0) on all
    # columns with 2019 pandas)
    assert house.num_features == 330


# --- lookup, checksums, downloads ---------------------------------------------------------------
def _file(tmp_path, content: bytes = b"hello d2l\n"):
    src = tmp_path / "source.txt"
    src.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    return src, DataFile("demo/file.txt", f"sha256:{digest}", urls=(src.as_uri(),))


def test_download_verifies_and_moves_into_place(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("D2L_OFFLINE")
    src, f = _file(tmp_path)
    paths = fetch("Demo", [f], tmp_path / "data")
    assert paths["demo/file.txt"].read_bytes() == src.read_bytes()
    assert "downloaded to" in capsys.readouterr().err
    assert list((tmp_path / "data" / "demo").iterdir()) == [tmp_path / "data/demo/file.txt"]
    fetch("Demo", [f], tmp_path / "data")  # second time: found and verified
    assert "found in" in capsys.readouterr().err


def test_checksum_mismatch_offline_is_a_clear_error_and_keeps_the_file(tmp_path):
    _, f = _file(tmp_path)
    bad = tmp_path / "data" / "demo" / "file.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"something else")
    with pytest.raises(DataError) as e:
        fetch("Demo", [f], tmp_path / "data")
    msg = str(e.value)
    assert "checksum mismatch" in msg and str(bad) in msg and f.checksum.split(":")[1] in msg
    assert "D2L_OFFLINE" in msg and "left untouched" in msg
    assert bad.read_bytes() == b"something else"


def test_failed_download_overwrites_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("D2L_OFFLINE")
    _, f = _file(tmp_path)
    broken = DataFile(f.path, f.checksum, urls=("http://127.0.0.1:9/file.txt",
                                                (tmp_path / "nowhere.txt").as_uri()))
    bad = tmp_path / "data" / "demo" / "file.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"truncat")
    with pytest.raises(DataError) as e:
        fetch("Demo", [broken], tmp_path / "data")
    assert "127.0.0.1:9" in str(e.value) and "nowhere.txt" in str(e.value)
    assert bad.read_bytes() == b"truncat"
    assert [p.name for p in bad.parent.iterdir()] == ["file.txt"]  # no partial download left
    # a download whose content is wrong is refused and not moved into place either
    wrong = tmp_path / "wrong.txt"
    wrong.write_bytes(b"not it")
    with pytest.raises(DataError, match="failed verification"):
        fetch("Demo", [DataFile(f.path, f.checksum, urls=(wrong.as_uri(),))], tmp_path / "data")
    assert bad.read_bytes() == b"truncat"


def test_missing_everything_names_every_place(tmp_path):
    f = DataFile("x/y.bin", "md5:" + "0" * 32, urls=("http://127.0.0.1:9/y.bin",),
                 system_paths=(str(tmp_path / "sys" / "y.bin"),))
    with pytest.raises(DataError) as e:
        fetch("Demo", [f], tmp_path / "data")
    msg = str(e.value)
    for expected in (str(tmp_path / "data" / "x" / "y.bin"), str(tmp_path / "sys" / "y.bin"),
                     "missing", "md5 " + "0" * 32, "D2L_DATA_DIR", "--data.data_dir"):
        assert expected in msg


def test_truncated_idx_file_is_reported(tmp_path, fashion_dir):
    raw = fashion_dir / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(gzip.decompress(raw.read_bytes())[:-5]))
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_idx(cut)
    half = tmp_path / "half.gz"
    half.write_bytes(raw.read_bytes()[: len(raw.read_bytes()) // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read_idx(half)


def test_cli_reports_missing_data_without_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", "--config", str(REPO / "configs/ch03/3.7_softmax.yaml"),
                 "--data.init_args.data_dir", str(tmp_path / "empty"), *QUIET])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "error: FashionMNIST: cannot get FashionMNIST/raw/" in err and "Traceback" not in err


def test_cli_reports_corrupt_real_file(tmp_path, fashion_dir, capsys):
    data = tmp_path / "data"
    shutil.copytree(fashion_dir, data)
    with pytest.raises(SystemExit) as e:
        run_cli(["fit", "--config", str(REPO / "configs/ch03/3.7_softmax.yaml"),
                 "--data.init_args.data_dir", str(data), *QUIET])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "Traceback" not in err


def test_system_package_copy_with_other_gzip_header_is_accepted(tmp_path):
    """Debian's dataset-fashion-mnist rewrites the gzip headers: same content, other MD5."""
    content = b"idx bytes" * 100
    official = gzip.compress(content, mtime=1504176606)
    debian = gzip.compress(content, mtime=1690000000)
    assert official != debian
    sys_file = tmp_path / "usr" / "file.gz"
    sys_file.parent.mkdir()
    sys_file.write_bytes(debian)
    f = DataFile("x/file.gz", "md5:" + hashlib.md5(official).hexdigest(),
                 system_paths=(str(sys_file),),
                 content_checksum="sha256:" + hashlib.sha256(content).hexdigest())
    assert fetch("Demo", [f], tmp_path / "data")["x/file.gz"] == sys_file
    strict = DataFile(f.path, f.checksum, system_paths=f.system_paths)
    with pytest.raises(DataError, match="system package"):
        fetch("Demo", [strict], tmp_path / "data")
