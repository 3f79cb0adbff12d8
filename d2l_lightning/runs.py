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
import yaml

from d2l_lightning.errors import CheckpointError, ConfigError

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
    """`--run_name`, else the stem of the section config that chose the model (e.g.
    `3.6_softmax_scratch`; of two stacked section configs, the one whose model is the one that
    runs), else the model's class."""
    if explicit:
        return explicit
    paths = [Path(str(p)) for p in configs or []]
    sections = [p for p in paths if p.parent.name not in PRESET_DIRS and p.stem != "config"]
    model = _short(model_class_path)
    for path in sections:
        if model and _short(_config_model(path)) == model:
            return path.stem
    cfg = section_config(configs)
    if cfg is not None and cfg.stem != "config":
        return cfg.stem
    return model or "run"


def _short(class_path) -> str:
    return str(class_path).rsplit(".", 1)[-1] if class_path else ""


def _config_model(path: Path) -> str | None:
    """The model class path a YAML config file sets, if it sets one (None when unreadable)."""
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    model = cfg.get("model") if isinstance(cfg, dict) else None
    if isinstance(model, dict):
        return model.get("class_path")
    return model if isinstance(model, str) else None


def run_dir_of_checkpoint(ckpt_path: str | Path) -> Path | None:
    """The run folder a checkpoint belongs to (`<run>/checkpoints/x.ckpt` with `<run>/config.yaml`),
    or None for a checkpoint kept elsewhere."""
    path = Path(ckpt_path)
    if path.resolve().parent.name == "checkpoints" and (path.resolve().parent.parent / "config.yaml").is_file():
        return path.parent.parent  # as the user wrote it (relative stays relative)
    return None


#: run folders this process created, for `discard_unused` when the command fails
_created: list[Path] = []


def make_run_dir(root: Path, name: str, version: str | None) -> Path:
    """Creates (on rank 0) and returns a new run folder. An explicit `version` that exists already is
    an error: two runs never share a folder (a requeued SLURM job's own `slurm-<id>` folder is the
    same run continuing). DDP ranks started as subprocesses inherit `D2L_RUN_DIR` from rank 0, so
    all ranks agree."""
    inherited = os.environ.get("D2L_RUN_DIR")
    if inherited and global_rank() > 0:
        return Path(inherited)
    store = _torchrun_store()
    if store is not None and global_rank() > 0:  # another node: rank 0 names the folder
        return use_run_dir(Path(store.get(_torchrun_key()).decode()))
    requeued = False
    if not version and os.environ.get("SLURM_JOB_ID"):
        version, requeued = f"slurm-{os.environ['SLURM_JOB_ID']}", True  # same folder when requeued
    fixed = bool(version)
    version = version or datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = root / name / version
    if global_rank() == 0:
        if fixed and not requeued and run_dir.exists():
            raise ConfigError(
                f"--run_version {version}: the run folder {run_dir} exists already, and a new run never "
                "writes into another run's folder. Choose another --run_version (or leave it out for a "
                "timestamp); to continue that run, use fit --ckpt_path "
                f"{run_dir / 'checkpoints' / 'last.ckpt'}.")
        missing = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
        for i in range(1, 1000):
            try:
                run_dir.mkdir(parents=True, exist_ok=requeued)
                break
            except FileExistsError:  # two runs in the same second never share a folder
                if fixed:
                    raise ConfigError(f"the run folder {run_dir} was created by another run at the same "
                                      "moment; choose another --run_version.") from None
                run_dir = root / name / f"{version}-{i}"
                missing = [run_dir]
        _created.append((run_dir, [p for p in missing if p != run_dir]))
        if store is not None:
            store.set(_torchrun_key(), str(run_dir))
    os.environ["D2L_RUN_DIR"] = str(run_dir)
    return run_dir


def _torchrun_key() -> str:  # (a restarted torchrun worker group gets a folder of its own)
    return f"d2l/run_dir/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def _torchrun_store():
    """Under torchrun (and not SLURM, whose job id names the folder), its rendezvous store, where
    rank 0 leaves the run folder's name for the ranks of the other nodes (which inherit nothing
    from it); None elsewhere."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or "MASTER_PORT" not in os.environ or \
            os.environ.get("SLURM_JOB_ID"):
        return None
    from datetime import timedelta

    host, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ["MASTER_PORT"])
    return torch.distributed.TCPStore(host, port, is_master=False, timeout=timedelta(minutes=5),
                                      wait_for_workers=False)


def requeued_checkpoint(root: Path, name: str, version: str | None) -> str | None:
    """A SLURM job's run folder is `slurm-<job id>`; when a `fit` without `--ckpt_path` finds its
    `checkpoints/last.ckpt` already there, the job was requeued (pre-empted, or stopped before its
    time limit) and continues from that newest state of the run, in that folder."""
    job = os.environ.get("SLURM_JOB_ID")
    last = root / name / f"slurm-{job}" / "checkpoints" / "last.ckpt"
    if version or not job or not last.is_file():
        return None
    if global_rank() == 0:
        print(f"requeued SLURM job {job}: resuming from {last}", flush=True)
    return str(last)


def has_results(run_dir: Path) -> bool:
    """Whether a run folder holds anything worth keeping: a checkpoint, a metrics row, predictions."""
    if any((run_dir / "checkpoints").glob("*.ckpt")):
        return True
    metrics = run_dir / "metrics.csv"
    if metrics.is_file():
        with open(metrics, encoding="utf-8", errors="replace") as f:
            if sum(1 for line in f if line.strip()) > 1:
                return True
    keep = {"config.yaml", "hparams.yaml", "metrics.csv", "wandb", "checkpoints", "curves.png"}
    return any(p.name not in keep for p in run_dir.iterdir())


def discard_unused() -> list[Path]:
    """After a failed command: removes the run folders it created that hold no results (nor the
    folders created for them), so a failed start leaves nothing behind; returns what was removed."""
    import shutil

    removed = []
    while _created:
        run_dir, parents = _created.pop()
        if not run_dir.is_dir() or has_results(run_dir):
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        removed.append(run_dir)
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break
    return removed


def forget_created() -> None:
    """A command that ended well keeps its folders."""
    _created.clear()


def use_run_dir(run_dir: Path) -> Path:
    """Continues in an existing run folder (a resumed fit); every rank agrees on it."""
    os.environ["D2L_RUN_DIR"] = str(run_dir)
    return run_dir


#: trainer options that make a run a debugging run (a few batches, one batch overfitted)
DEBUG_OPTIONS = ("fast_dev_run", "overfit_batches", "limit_train_batches")


def debug_options(trainer_cfg) -> dict:
    """The debugging options a run's trainer config sets (empty for a real training run)."""
    found = {}
    for key in DEBUG_OPTIONS:
        value = (trainer_cfg or {}).get(key)
        if value not in (None, False, 0, 0.0, 1.0) or (key == "limit_train_batches" and value == 0):
            found[key] = value
    return found


def _run_config(run_dir: Path) -> dict:
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def find_last_checkpoint(root: Path, name: str, model_class_path: str | None = None,
                         debugging: bool = False) -> Path:
    """`--ckpt_path last`: the newest `checkpoints/last.ckpt` among this experiment's runs of the same
    model; debugging runs (a few batches: configs/debug presets, `limit_train_batches`) count only
    when this command is one too."""
    found = [*(root / name).glob("*/checkpoints/last.ckpt"), *(root / name).glob("*/*/checkpoints/last.ckpt")]
    if not found:
        raise CheckpointError(f"--ckpt_path last: no earlier run of {name!r} under {root / name} has "
                              "checkpoints/last.ckpt. Give the checkpoint's path instead.")
    other_model, debug_runs, usable = [], [], []
    for ckpt in found:
        cfg = _run_config(ckpt.parent.parent)
        saved_model = _short((cfg.get("model") or {}).get("class_path") if isinstance(cfg.get("model"), dict)
                             else cfg.get("model"))
        if model_class_path and saved_model and saved_model != _short(model_class_path):
            other_model.append(f"{ckpt} ({saved_model})")
        elif debug_options(cfg.get("trainer")) and not debugging:
            options = ", ".join(f"{k} {v}" for k, v in debug_options(cfg.get("trainer")).items())
            debug_runs.append(f"{ckpt} ({options})")
        else:
            usable.append(ckpt)
    if not usable:
        skipped = "; ".join(other_model + debug_runs)
        raise CheckpointError(
            f"--ckpt_path last: no earlier run of {name!r} under {root / name} is a training run of "
            f"{_short(model_class_path) or 'this model'}: skipped {skipped} (another model, or a "
            "debugging run of a few batches). Give the checkpoint's path instead.")
    return max(usable, key=lambda p: p.stat().st_mtime)


def check_checkpoint(ckpt: str) -> dict:
    """Loads a `--ckpt_path` file as Lightning will (tensors and plain values only) and returns it;
    a missing, unreadable or foreign file is a `CheckpointError` that says so."""
    from d2l_lightning.core.weights import load_file  # (core imports Lightning: only when needed)

    state = load_file(ckpt, "--ckpt_path")
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"--ckpt_path {ckpt} holds no model weights (no state_dict): it is not a "
                              "Lightning checkpoint.")
    return state


def trained_epochs(state: dict) -> int:
    """How many whole epochs a checkpoint's run had trained when it was saved."""
    try:
        return int(state["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError, ValueError):
        return int(state.get("epoch", 0))


def resolve_checkpoint(ckpt: str, root: Path, name: str, command: str = "fit",
                       model_class_path: str | None = None,
                       debugging: bool = False) -> tuple[str, Path | None, dict]:
    """A `--ckpt_path` value (a path, or `last`) -> (the checked path, the run folder it belongs to
    or None, its loaded state)."""
    if ckpt == "last":
        ckpt = str(find_last_checkpoint(root, name, model_class_path, debugging))
        state = check_checkpoint(ckpt)
        what = {"fit": "resuming from", "predict": "predicting with", "validate": "validating",
                "test": "testing"}.get(command, "using")
        print(f"{what} {ckpt} ({trained_epochs(state)} epoch(s) trained)", flush=True)
        return ckpt, run_dir_of_checkpoint(ckpt), state
    return ckpt, run_dir_of_checkpoint(ckpt), check_checkpoint(ckpt)
