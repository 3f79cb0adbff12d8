"""Run directories: how a run is named, where its folder is, and which checkpoint `--ckpt_path`
means.

One run = one folder `<trainer.default_root_dir>/<run_name>/<run_version>/`. A new run gets a new
folder (a timestamp, or `slurm-<job id>` so a requeued job finds its own); `fit --ckpt_path` of a
checkpoint inside a run folder continues that same run, in that folder; `test`, `validate` and
`predict` get a folder of their own.
"""

import os
from datetime import datetime
from pathlib import Path

import torch

from d2l_lightning.errors import CheckpointError

#: folders of composable presets under configs/: never the name of a run
PRESET_DIRS = {"trainer", "logger", "debug"}


def global_rank() -> int:
    """This process's rank as the launcher set it (0 outside distributed runs)."""
    # LOCAL_RANK last: Lightning's own DDP launcher sets it (and not RANK) in the processes it starts
    for var in ("RANK", "SLURM_PROCID", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def section_config(configs: list) -> Path | None:
    """The book-section config among the `--config` files (the first that is not a preset)."""
    paths = [Path(str(p)) for p in configs or []]
    chapter = [p for p in paths if p.parent.name not in PRESET_DIRS]
    return (chapter or paths or [None])[0]


def run_name(explicit: str | None, configs: list, model_class_path: str | None) -> str:
    """`--run_name`, else the section config's stem (e.g. `3.6_softmax_scratch`), else the model's class."""
    if explicit:
        return explicit
    cfg = section_config(configs)
    if cfg is not None and cfg.stem != "config":
        return cfg.stem
    return str(model_class_path).rsplit(".", 1)[-1] if model_class_path else "run"


def run_dir_of_checkpoint(ckpt_path: str | Path) -> Path | None:
    """The run folder a checkpoint belongs to (`<run>/checkpoints/x.ckpt` with `<run>/config.yaml`),
    or None for a checkpoint kept elsewhere."""
    path = Path(ckpt_path)
    if path.resolve().parent.name == "checkpoints" and (path.resolve().parent.parent / "config.yaml").is_file():
        return path.parent.parent  # as the user wrote it (relative stays relative)
    return None


def make_run_dir(root: Path, name: str, version: str | None) -> Path:
    """Creates (on rank 0) and returns a new run folder. DDP ranks started as subprocesses inherit
    `D2L_RUN_DIR` from rank 0, so all ranks agree."""
    inherited = os.environ.get("D2L_RUN_DIR")
    if inherited and global_rank() > 0:
        return Path(inherited)
    if not version and os.environ.get("SLURM_JOB_ID"):
        version = f"slurm-{os.environ['SLURM_JOB_ID']}"  # same folder when a job is requeued
    fixed = bool(version)
    version = version or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = root / name / version
    if global_rank() == 0:
        for i in range(1, 1000):
            try:
                run_dir.mkdir(parents=True, exist_ok=fixed)
                break
            except FileExistsError:  # two runs in the same second never share a folder
                run_dir = root / name / f"{version}-{i}"
    os.environ["D2L_RUN_DIR"] = str(run_dir)
    return run_dir


def use_run_dir(run_dir: Path) -> Path:
    """Continues in an existing run folder (a resumed fit); every rank agrees on it."""
    os.environ["D2L_RUN_DIR"] = str(run_dir)
    return run_dir


def find_last_checkpoint(root: Path, name: str) -> Path:
    """`--ckpt_path last`: the newest `checkpoints/last.ckpt` of this experiment's runs."""
    found = [*(root / name).glob("*/checkpoints/last.ckpt"), *(root / name).glob("*/*/checkpoints/last.ckpt")]
    if not found:
        raise CheckpointError(f"--ckpt_path last: no earlier run of {name!r} under {root / name} has "
                              "checkpoints/last.ckpt. Give the checkpoint's path instead.")
    return max(found, key=lambda p: p.stat().st_mtime)


def check_checkpoint(ckpt: str) -> dict:
    """Loads a `--ckpt_path` file as Lightning will (tensors and plain values only) and returns it;
    a missing, unreadable or foreign file is a `CheckpointError` that says so."""
    path = Path(ckpt)
    if not path.is_file():
        raise CheckpointError(f"--ckpt_path {ckpt}: no such file. Checkpoints are in "
                              "<run directory>/checkpoints/ (last.ckpt, best-*.ckpt).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or holding arbitrary objects
        first_line = (str(e).splitlines() or [""])[0][:200]
        raise CheckpointError(f"--ckpt_path {ckpt} is not a readable checkpoint ({type(e).__name__}: "
                              f"{first_line}). It may be truncated or not written by "
                              "d2l-lightning; nothing in it was run.") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"--ckpt_path {ckpt} holds no model weights (no state_dict): it is not a "
                              "Lightning checkpoint.")
    return state


def resolve_checkpoint(ckpt: str, root: Path, name: str) -> tuple[str, Path | None, tuple[int, int]]:
    """A `--ckpt_path` value (a path, or `last`) -> (the checked path, the run folder it belongs to
    or None, its (epoch, global step))."""
    if ckpt == "last":
        ckpt = str(find_last_checkpoint(root, name))
        print(f"resuming from {ckpt}", flush=True)
    state = check_checkpoint(ckpt)
    return ckpt, run_dir_of_checkpoint(ckpt), (int(state.get("epoch", 0)), int(state.get("global_step", 0)))
