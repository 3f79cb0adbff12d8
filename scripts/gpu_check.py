"""The GPU check: chapter 5's book table (5.6-5.12) at the book's settings on one GPU, plus the
chapter 9 and 10 configs, time-boxed to about 8 minutes, ending with a table against the book.

    bash scripts/gpu_check.sh                     # or: make gpu-check; or python scripts/gpu_check.py
    python scripts/gpu_check.py --total 900       # a slower GPU: more time
    python scripts/gpu_check.py --cpu --only 5.10_bn_lenet --extra --trainer.limit_train_batches 2 ...

Needs: Python >= 3.10 with torch, torchvision, pytorch-lightning 2.6, torchmetrics, jsonargparse
(`jsonargparse[signatures]<5`, with docstring-parser and typeshed-client), pandas, matplotlib, PyYAML
and rich (`pip install -e .` installs them all; wandb is not needed: runs log to CSV only), and the
datasets under $D2L_DATA_DIR or ./data/ (Fashion-MNIST; chapter 10's PTB, IMDb + GloVe, fr-en-small),
since the runs are offline. The script checks both first and says what is missing.

What runs, in this order (each `python -m d2l_lightning fit` in its own process, with
configs/trainer/gpu.yaml and configs/logger/csv.yaml):
  1. 5.6 AlexNet, 5.7 VGG, 5.8 NiN, 5.9 GoogLeNet, 5.10 batch-norm LeNet (scratch and concise),
     5.11 ResNet-18, 5.12 DenseNet: the book's 5 epochs with configs/trainer/bf16.yaml and
     configs/trainer/channels_last.yaml;
  2. 5.12 DenseNet (the smallest of the big networks) once more in fp32, NCHW, as the book ran it;
  3. every configs/ch09/*.yaml and configs/ch10/*.yaml that exists, as shipped (fp32; the image
     classifiers among them with bf16 + channels_last), to their time box;
  4. with 2 or more GPUs: 5.11 ResNet-18 with DDP on 2 GPUs (configs/trainer/ddp.yaml; each
     process takes the config's batch, so the global batch is twice the book's).
Each run is time-boxed: `trainer.max_time` stops it gracefully (metrics, checkpoint and curves are
written) a little before its box ends, SIGTERM at the end of the box, SIGKILL 20 s later. The box is
--ch05_limit (default 90 s) for chapter 5, --other_limit (default 30 s) for the rest, and never more
than what is left of --total (default 480 s); a run that no longer gets 15 s is skipped. After
every run its row is appended to OUT/gpu_check.jsonl and OUT/gpu_check.md is rewritten, so a
session cut short still reports; OUT defaults to logs/gpu_check/<date-time>/.

The table: test accuracy (`val/acc` on the official test split, the book's "test acc") after the
last complete epoch, epochs done, median seconds per training epoch, samples (images) per second,
and the book's test accuracy and seconds per epoch (printed with each of its GPU runs) with the
speed-up. Fewer epochs done than the config's (3/5) means the time box ended the run: its accuracy is
that of its last complete epoch, and a longer box (--ch05_limit, --total) gives the book's 5.
--cpu runs the same plan on the CPU (configs/trainer/cpu.yaml): with tiny limits in --extra it is
the end-to-end check of this script on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEEDED = ["torch", "torchvision", "pytorch_lightning", "torchmetrics", "jsonargparse", "docstring_parser",
          "typeshed_client", "pandas", "matplotlib", "yaml", "rich"]
CH05 = ["5.6_alexnet", "5.7_vgg", "5.8_nin", "5.9_googlenet", "5.10_bn_lenet_scratch", "5.10_bn_lenet",
        "5.11_resnet18", "5.12_densenet"]
FP32 = "5.12_densenet"
DDP = "5.11_resnet18"
FAST = ["configs/trainer/bf16.yaml", "configs/trainer/channels_last.yaml"]
# the book's GPU runs: final test acc and the time it printed for the last epoch (seconds)
BOOK = {"5.6_alexnet": (0.902, 129.9), "5.7_vgg": (0.918, 153.9), "5.8_nin": (0.831, 151.0),
        "5.9_googlenet": (0.896, 43.5), "5.10_bn_lenet_scratch": (0.859, 2.8), "5.10_bn_lenet": (0.734, 1.8),
        "5.11_resnet18": (0.926, 31.5), "5.12_densenet": (0.884, 24.3)}
STARTUP_S = 12  # process start, imports and data loading before `max_time` starts counting
MIN_BOX_S = 15
GRACE_S = 20


@dataclass
class Run:
    label: str
    config: str  # repository-relative
    presets: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    chapter5: bool = False


def image_classifier(config: Path) -> bool:
    """Whether the config's model is one of chapter 5's `ImageClassifier`s (takes channels_last)."""
    import yaml

    class_path = str((yaml.safe_load(config.read_text()) or {}).get("model", {}).get("class_path", ""))
    from d2l_lightning.models import cnn

    cls = getattr(cnn, class_path.rsplit(".", 1)[-1], None)
    return isinstance(cls, type) and issubclass(cls, cnn.ImageClassifier)


def plan(gpus: int, only: list[str] | None = None) -> list[Run]:
    runs = [Run(f"{stem} bf16+cl", f"configs/ch05/{stem}.yaml", FAST, chapter5=True) for stem in CH05]
    runs.append(Run(f"{FP32} fp32", f"configs/ch05/{FP32}.yaml", chapter5=True))
    for path in sorted(REPO.glob("configs/ch09/*.yaml")) + sorted(REPO.glob("configs/ch10/*.yaml")):
        fast = image_classifier(path)
        runs.append(Run(path.stem + (" bf16+cl" if fast else ""), str(path.relative_to(REPO)),
                        FAST if fast else []))
    if gpus >= 2:
        runs.append(Run(f"{DDP} bf16+cl DDP×2", f"configs/ch05/{DDP}.yaml",
                        [*FAST, "configs/trainer/ddp.yaml"], ["--trainer.devices", "2"], chapter5=True))
    if only:
        runs = [r for r in runs if any(o in r.label for o in only)]
    return runs


def missing_requirements(data_dir: Path, check_data: bool = True) -> list[str]:
    missing = [f"Python package {name}" for name in NEEDED if importlib.util.find_spec(name) is None]
    system_copy = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
    if check_data and not (data_dir / "FashionMNIST" / "raw").is_dir() and not system_copy.is_dir():
        missing.append(f"Fashion-MNIST under {data_dir}/FashionMNIST/raw/ (set D2L_DATA_DIR)")
    return missing


def timeboxed(cmd: list[str], limit: float, log: Path, env: dict | None = None) -> tuple[int, bool, float]:
    """Runs cmd (output to log) for at most `limit` seconds: SIGTERM to its process group at the
    limit, SIGKILL GRACE_S later. Returns (exit status, whether it hit the limit, seconds)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                start_new_session=True)  # its own group: DDP ranks stop with it
        try:
            return proc.wait(timeout=limit), False, time.perf_counter() - start
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # graceful: the run checkpoints and writes its metrics
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return proc.returncode, True, time.perf_counter() - start


def command(run: Run, device_preset: str, out: Path, box: float, extra: list[str]) -> list[str]:
    max_time = max(int(box - STARTUP_S), 5)
    return [sys.executable, "-m", "d2l_lightning", "fit", "--config", run.config,
            *[a for p in [device_preset, *run.presets, "configs/logger/csv.yaml"] for a in ("--config", p)],
            *run.args, "--trainer.default_root_dir", str(out),
            "--trainer.max_time", f"00:00:{max_time // 60:02d}:{max_time % 60:02d}",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra]


def run_dir_of(log: Path, out: Path, stem: str, started: float) -> Path | None:
    found = re.findall(r"run directory: (.+)", log.read_text(errors="replace"))
    if found:
        return Path(found[-1].strip())
    # cut off before it printed its folder: the newest one of this config made since it started
    dirs = [d for d in (out / stem).glob("*") if d.is_dir() and d.stat().st_mtime >= started - 1]
    return max(dirs, key=lambda d: d.stat().st_mtime) if dirs else None


def summarise(run_dir: Path | None) -> dict:
    """Last complete epoch's test accuracy, epochs done, median epoch time and images/s."""
    import pandas as pd

    if run_dir is None or not (run_dir / "metrics.csv").is_file():
        return {}
    try:
        df = pd.read_csv(run_dir / "metrics.csv")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return {}
    epochs = df.dropna(subset=["train/epoch_time"]) if "train/epoch_time" in df else df.iloc[0:0]
    info = {"epochs": int(len(epochs))}
    if len(epochs):
        info["s_epoch"] = statistics.median(epochs["train/epoch_time"])
        info["images_s"] = statistics.median(epochs["train/samples_per_sec"])
    for key in ("val/acc", "val/loss", "train/loss", "train/ppl", "val/bleu"):
        if key in df and df[key].notna().any():
            info[key] = float(df[key].dropna().iloc[-1])
    return info


def _f(value, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def table(rows: list[dict]) -> str:
    header = ["run", "result", "epochs", "s/epoch", "samples/s", "book test acc", "book s/epoch", "speed-up",
              "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in rows:
        s = r["summary"]
        book_acc, book_s = BOOK.get(Path(r["config"]).stem, (None, None)) if r["chapter5"] else (None, None)
        if "val/acc" in s:
            result = f"test acc {s['val/acc']:.3f}"
        else:
            result = "; ".join(f"{k} {s[k]:.4g}" for k in ("val/bleu", "train/ppl", "val/loss", "train/loss")
                               if k in s)
        speed = f"{book_s / s['s_epoch']:.1f}×" if book_s and s.get("s_epoch") else "—"
        if r["timed_out"]:
            status = "time box"
        elif r["returncode"] not in (0, None):
            status = f"failed (exit {r['returncode']}, see {r['log']})"
        else:
            status = r.get("status", "done")
        images = _f(s.get("images_s"), ",.0f" if s.get("images_s", 0) >= 100 else ".2g")
        cells = [r["label"], result or "—", f"{s.get('epochs', 0)}/{r['max_epochs'] or '?'}",
                 _f(s.get("s_epoch"), ".2f"), images, _f(book_acc, ".3f"), _f(book_s, ".1f"), speed, status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def device_name(cpu: bool) -> str:
    import torch

    if not cpu and torch.cuda.is_available():
        return f"{torch.cuda.device_count()}× {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--total", type=float, default=480, help="seconds for the whole check (default 480)")
    p.add_argument("--ch05_limit", type=float, default=90, help="time box of a chapter 5 run (s)")
    p.add_argument("--other_limit", type=float, default=30, help="time box of a chapter 9/10 run (s)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU (the script's own check, tiny limits)")
    p.add_argument("--only", nargs="+", default=None, help="only runs whose label contains one of these")
    p.add_argument("--out", type=Path, default=None, help="default logs/gpu_check/<date-time>")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="CLI flags added to every run")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    data_dir = Path(os.environ.get("D2L_DATA_DIR") or REPO / "data")
    missing = missing_requirements(data_dir, check_data=not args.cpu)
    if missing:
        sys.exit("gpu_check: missing " + "; ".join(missing) + ". Install the packages with "
                 "`pip install -e .` (or `bash scripts/install.sh`) and copy the data folder.")
    import torch

    gpus = 0 if args.cpu else torch.cuda.device_count()
    if not args.cpu and gpus == 0:
        sys.exit("gpu_check: no CUDA GPU visible (torch.cuda.device_count() == 0); --cpu runs the "
                 "plan on the CPU with the limits you give in --extra.")
    out = (args.out or REPO / "logs" / "gpu_check" / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "D2L_OFFLINE": "1", "WANDB_MODE": "disabled", "D2L_DATA_DIR": str(data_dir),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.pop("D2L_RUN_DIR", None)
    device_preset = "configs/trainer/cpu.yaml" if args.cpu else "configs/trainer/gpu.yaml"
    runs = plan(gpus, args.only)
    header = (f"# GPU check, {datetime.now():%Y-%m-%d %H:%M}, {device_name(args.cpu)}\n\n"
              f"`python scripts/gpu_check.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n\n")
    print(header + f"{len(runs)} runs, {args.total:.0f} s in all; results in {out}/gpu_check.md", flush=True)
    import yaml

    deadline = time.perf_counter() + args.total
    rows = []
    for run in runs:
        left = deadline - time.perf_counter()
        box = min(args.ch05_limit if run.chapter5 else args.other_limit, left)
        trainer = yaml.safe_load((REPO / run.config).read_text()).get("trainer") or {}
        row = {"label": run.label, "config": run.config, "chapter5": run.chapter5, "returncode": None,
               "timed_out": False, "log": None, "run_dir": None, "summary": {},
               "max_epochs": trainer.get("max_epochs")}
        if box < MIN_BOX_S:
            row["status"] = "skipped (no time left)"
        else:
            log = out / (re.sub(r"[^\w.-]+", "_", run.label) + ".log")
            started = time.time()
            rc, timed_out, seconds = timeboxed(command(run, device_preset, out, box, args.extra), box, log, env)
            run_dir = run_dir_of(log, out, Path(run.config).stem, started)
            row.update(returncode=rc, timed_out=timed_out, log=str(log.relative_to(out)),
                       seconds=round(seconds, 1), run_dir=str(run_dir) if run_dir else None,
                       summary=summarise(run_dir))
        rows.append(row)
        with open(out / "gpu_check.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        (out / "gpu_check.md").write_text(header + table(rows) + "\n")
        print(table(rows).splitlines()[-1], flush=True)
    print("\n" + table(rows))
    return rows


if __name__ == "__main__":
    main()
