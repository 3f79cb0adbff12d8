"""scripts/gpu_check.py without a GPU: the plan (chapter 5 with bf16 + channels_last, one fp32 run,
the chapter 9/10 configs by glob, DDP only with 2 GPUs), the time box, and one run end to end on
the CPU (`--cpu`, tiny limits, a subprocess as on the GPU) reported from its metrics.csv."""

import importlib
import json
import sys

import pandas as pd
import pytest
from helpers.cli import REPO


def gpu_check():
    sys.path.insert(0, str(REPO / "scripts"))
    return importlib.import_module("gpu_check")


def test_plan():
    gc = gpu_check()
    one = gc.plan(gpus=1)
    ch05 = [r for r in one if r.chapter5]
    assert [r.config for r in ch05] == [f"configs/ch05/{s}.yaml" for s in [*gc.CH05, "5.12_densenet"]]
    fast = ["configs/trainer/bf16.yaml", "configs/trainer/channels_last.yaml"]
    assert all(r.presets == fast for r in ch05[:-1])
    assert ch05[-1].presets == [] and ch05[-1].label.endswith("fp32")
    later = sorted(str(p.relative_to(REPO)) for d in ("ch09", "ch10")
                   for p in (REPO / "configs" / d).glob("*.yaml"))
    assert sorted(r.config for r in one if not r.chapter5) == later
    for preset in gc.FAST:
        assert (REPO / preset).is_file()
    two = gc.plan(gpus=2)
    assert two[:-1] == one and "configs/trainer/ddp.yaml" in two[-1].presets
    assert two[-1].args == ["--trainer.devices", "2"]


def test_time_box_stops_a_run(tmp_path, monkeypatch):
    gc = gpu_check()
    monkeypatch.setattr(gc, "GRACE_S", 0.5)
    child = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    rc, timed_out, seconds = gc.timeboxed([sys.executable, "-c", child], 1, tmp_path / "log")
    assert timed_out and rc < 0 and seconds < 10  # stopped by a signal (SIGKILL once SIGTERM is ignored)
    assert gc.timeboxed([sys.executable, "-c", "pass"], 30, tmp_path / "log2")[:2] == (0, False)


@pytest.mark.slow  # a real CLI subprocess: `make test-all`
def test_one_run_end_to_end_on_cpu(tmp_path, fashion_dir):
    gc = gpu_check()
    out = tmp_path / "out"
    rows = gc.main(["--cpu", "--only", "5.10_bn_lenet bf16", "--out", str(out), "--extra",
                    "--data.init_args.data_dir", str(fashion_dir), "--data.init_args.checksum", "false",
                    "--data.init_args.batch_size", "16", "--trainer.max_epochs", "1",
                    "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2"])
    assert [r["label"] for r in rows] == ["5.10_bn_lenet bf16+cl"] and rows[0]["returncode"] == 0
    run_dir = rows[0]["run_dir"]
    assert run_dir.startswith(str(out / "5.10_bn_lenet"))
    config = open(f"{run_dir}/config.yaml").read()
    assert "precision: bf16-mixed" in config and "channels_last: true" in config and "CSVLogger" in config
    acc = pd.read_csv(f"{run_dir}/metrics.csv")["val/acc"].dropna().iloc[-1]
    assert json.loads((out / "gpu_check.jsonl").read_text())["summary"]["val/acc"] == acc
    row = (out / "gpu_check.md").read_text().splitlines()[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["5.10_bn_lenet bf16+cl", f"test acc {acc:.3f}", "1/5"]
    assert float(cells[3]) > 0 and cells[5:7] == ["0.734", "1.8"]
    assert cells[7].endswith("×") and cells[8] == "done"
