"""scripts/benchmark.py in miniature: our fit, the plain loop and bare Lightning train the same
model on the same data, and the table (with "-" for the sides not run) comes out."""

import sys

from helpers.cli import REPO


def test_sides_chosen_best_epoch_and_the_table(fashion_dir, tmp_path, monkeypatch, capsys, one_torch_thread):
    sys.path.insert(0, str(REPO / "scripts"))
    import benchmark

    monkeypatch.chdir(REPO)  # the script's config paths are relative to the repository
    cli_args = (f"--data.init_args.data_dir {fashion_dir} --data.init_args.checksum false "
                f"--data.init_args.batch_size 16 --trainer.default_root_dir {tmp_path}")
    rows = benchmark.main(["configs/ch03/3.7_softmax.yaml", "--epochs", "2", "--epoch", "best",
                           "--sides", "ours", "plain", "--floor", "--cli-args", cli_args])
    [(label, rates, extra_ms)] = rows
    assert label == "3.7_softmax" and rates["book"] is None and extra_ms is not None
    assert all(rates[side] > 0 for side in ("ours", "plain", "floor"))
    out = capsys.readouterr().out
    assert "(best epoch after the first)" in out
    row = next(line for line in out.splitlines() if line.startswith("| 3.7_softmax |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 9 and cells[3] == "-" and cells[6] == "-"  # (c) and (a)/(c) not run
    assert (tmp_path / "benchmark").is_dir()  # our side's run went where the CLI arguments said
