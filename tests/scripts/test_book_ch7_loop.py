"""scripts/book_ch7_loop.py: the book's `get_data_ch7` and `train_pytorch_ch7` in plain torch, the
numbers the results notes quote (7.7 concise AdaDelta over seeds), and the spread line."""

import importlib
import sys

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA
from helpers.cli import REPO
from helpers.fakedata import make_airfoil


def loop():
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module("book_ch7_loop")


def test_data_and_loop_on_generated_rows(tmp_path):
    b = loop()
    root = make_airfoil(tmp_path, n=210)
    X, y = b.get_data_ch7(str(root), num_examples=200, checksum=False)
    raw = np.loadtxt(root / "airfoil_self_noise.dat", delimiter="\t")
    full = (raw - raw.mean(0)) / raw.std(0)  # standardised over all 210 rows, then the first 200 kept
    assert X.shape == (200, 5) and torch.allclose(X, torch.tensor(full[:200, :5], dtype=torch.float32))
    assert torch.allclose(y, torch.tensor(full[:200, 5], dtype=torch.float32))
    ls = b.train_pytorch_ch7(torch.optim.SGD, {"lr": 0.05}, X, y, seed=0)
    # the loss at the start and every 100 examples: 2 epochs of 200 rows -> 1 + 4 values
    assert len(ls) == 5 and ls[-1] < ls[0] / 2
    torch.manual_seed(0)
    start = torch.nn.Linear(5, 1)  # the same seed gives the same initial model
    assert ls[0] == pytest.approx(torch.nn.functional.mse_loss(start(X).view(-1), y).item() / 2, rel=1e-6)
    assert b.train_pytorch_ch7(torch.optim.SGD, {"lr": 0.05}, X, y, seed=0) == ls  # and the same run


def test_spread_line():
    line = loop().spread("adadelta", [0.25, 0.26, 0.24], 0.245)
    assert "0.250000 ± 0.010000 [0.240000, 0.260000] over 3 seeds" in line and "1/3 seeds at or below" in line


@pytest.mark.skipif(not (SHARED_DATA / "airfoil_self_noise.dat").is_file(), reason="needs the airfoil data")
def test_book_loop_adadelta_on_the_real_data():
    b = loop()
    X, y = b.get_data_ch7(str(SHARED_DATA))
    finals = [b.train_pytorch_ch7(torch.optim.Adadelta, {"rho": 0.9}, X, y, seed)[-1] for seed in (0, 3)]
    assert finals == pytest.approx([0.267627, 0.247798], abs=2e-6)  # quoted in the 7.7 notes
    assert min(finals) > 0.242104  # the book's print: below these (and all of seeds 0-99)
