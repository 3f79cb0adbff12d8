import os
from pathlib import Path

import pytest
from helpers.fakedata import make_fashion_mnist, make_kaggle_house, make_lyrics

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("D2L_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test runs in its own folder (logs/ lands there), offline, without W&B unless a test
    turns it on."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("D2L_OFFLINE", "1")
    monkeypatch.delenv("D2L_RUN_DIR", raising=False)
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory):
    return make_fashion_mnist(tmp_path_factory.mktemp("fashion"))


@pytest.fixture(scope="session")
def house_dir(tmp_path_factory):
    return make_kaggle_house(tmp_path_factory.mktemp("house"))


@pytest.fixture(scope="session")
def lyrics_dir(tmp_path_factory):
    return make_lyrics(tmp_path_factory.mktemp("lyrics"))


@pytest.fixture
def one_torch_thread():
    """Small tensors gain nothing from a second thread, and on a busy shared CPU two OpenMP threads
    wait for each other (measured: 8 tiny SSD steps 0.8 s with one thread, 15 s with two)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
