"""scripts/benchmark_word2vec.py on a tiny PTB: both sides train the same batches from the same
weights (the same losses) and the table comes out."""

import sys

import pytest
from helpers.cli import REPO
from helpers.fakedata import make_ptb


def test_both_sides_print_the_same_losses(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import benchmark_word2vec

    monkeypatch.chdir(REPO)  # the script's config paths are relative to the repository
    ptb = make_ptb(tmp_path / "data")
    monkeypatch.setattr(sys, "argv", [
        "benchmark_word2vec.py", "--epochs", "1", "--turns", "1", "--data_dir", str(ptb),
        "--data.init_args.checksum", "false", "--data.init_args.subsample_t", "null",
        "--data.init_args.batch_size", "64", "--model.init_args.embed_size", "8",
        "--trainer.default_root_dir", str(tmp_path / "logs"), "--trainer.enable_progress_bar", "false"])
    benchmark_word2vec.main()
    out = capsys.readouterr().out
    turn = next(line for line in out.splitlines() if line.startswith("turn 1:"))
    ours = float(turn.split("loss ours [")[1].split("]")[0])
    plain = float(turn.split("plain [")[1].split("]")[0])
    assert ours == pytest.approx(plain, rel=0.02)  # sample-weighted mean vs the book's mean of batch means
    assert "| wall |" in out and "| CPU |" in out
