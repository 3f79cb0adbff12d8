"""Launching the CLI as a cluster does, on one CPU machine: stand-ins for SLURM's `srun` and
`scontrol` (put on PATH; they record what they were asked), the environment `sbatch` gives a job
script, torchrun's "nodes" as local processes, and a callback that sends a rank a real signal at a
chosen point of training."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from pytorch_lightning import Callback

from helpers.cli import REPO

# `srun`: starts $SLURM_NTASKS copies of its command with the variables srun gives each task,
# forwards the signals a job step gets to every task, and exits with the worst task status.
_SRUN = r'''#!{python}
import json, os, signal, subprocess, sys
log = os.environ["FAKE_SLURM_LOG"]
with open(os.path.join(log, "srun.json"), "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}) + "\n")
n = int(os.environ["SLURM_NTASKS"])
command = sys.argv[1:]
while command and command[0].startswith("-"):  # srun's own options (all of the --name=value form)
    command = command[1:]
tasks = [subprocess.Popen(command, env={{**os.environ, "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i),
                                              "SLURM_NODEID": "0", "SLURM_STEP_ID": "0"}})
         for i in range(n)]
with open(os.path.join(log, "tasks.pid"), "w") as f:
    f.write(" ".join(str(t.pid) for t in tasks))
def forward(signum, frame):
    for t in tasks:
        if t.poll() is None:
            t.send_signal(signum)
for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
    signal.signal(s, forward)
codes = [t.wait() for t in tasks]
sys.exit(max((abs(c) for c in codes), default=0))
'''

# `scontrol`: records its arguments; `requeue` then ends the job's tasks with SIGTERM, as SLURM does.
_SCONTROL = r'''#!{python}
import os, signal, sys
log = os.environ["FAKE_SLURM_LOG"]
with open(os.path.join(log, "scontrol.log"), "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
if sys.argv[1:2] == ["requeue"]:
    for pid in open(os.path.join(log, "tasks.pid")).read().split():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
'''


def fake_slurm(folder: Path) -> Path:
    """Writes the stand-in `srun` and `scontrol` into `folder/bin` (their records go to `folder`);
    returns the bin folder to put first on PATH."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("srun", _SRUN), ("scontrol", _SCONTROL)):
        path = bin_dir / name
        path.write_text(text.format(python=sys.executable))
        path.chmod(0o755)
    return bin_dir


def free_port() -> int:
    """A port free now, chosen by the system (not the lowest free one: parallel tests would all
    pick the same)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_slurm_job_id() -> str:
    """A job id whose port (Lightning's SLURM environment: 15000 + its last four digits) is free."""
    import secrets

    for _ in range(100):
        # not `random`: pytest seeds it, so every run and worker would draw the same ids
        job = 1000 + secrets.randbelow(9000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 15000 + job))
            except OSError:
                continue
        return str(job)
    raise RuntimeError("no free port for a SLURM job id")


def sbatch_env(folder: Path, job_id: str, ntasks: int, **extra) -> dict:
    """The environment `sbatch` gives a one-node job script with `ntasks` tasks, with the stand-ins
    first on PATH and the CLI's test helpers importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "D2L_RUN_DIR", "MASTER_",
                                                                      "TORCHELASTIC", "WORLD_SIZE", "RANK",
                                                                      "LOCAL_RANK", "NODE_RANK", "PL_",
                                                                      "WANDB_SERVICE"))}
    env.update(PATH=f"{fake_slurm(folder)}{os.pathsep}{env['PATH']}", FAKE_SLURM_LOG=str(folder),
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]),
               SLURM_JOB_ID=job_id, SLURM_JOB_NAME="d2l-lightning", SLURM_NNODES="1", SLURM_NTASKS=str(ntasks),
               SLURM_NTASKS_PER_NODE=str(ntasks), SLURM_NODELIST="localhost", SLURM_SUBMIT_DIR=str(folder),
               OMP_NUM_THREADS="1", **extra)
    return env


def link_repo(folder: Path) -> None:
    """A job script is run from the folder it was submitted in: give it the repository's `.venv`
    and `configs` there."""
    for name in (".venv", "configs"):
        if not (folder / name).exists():
            (folder / name).symlink_to(REPO / name)


def cli_env(**extra) -> dict:
    """The environment of a CLI subprocess: this checkout and the test helpers importable, one
    thread per process (as torchrun sets: with another count a matrix product sums in another
    order, and runs launched differently would differ in the last bits)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
           "OMP_NUM_THREADS": "1", **extra}
    env.pop("D2L_RUN_DIR", None)
    # An in-process W&B run of an earlier test leaves its wandb-core service's address here (for the
    # processes it spawns); CLI jobs sharing it kept a killed job's run "in use" for its requeue
    env.pop("WANDB_SERVICE", None)
    return env


def run_dir_of(out: str, cwd: Path) -> Path:
    return cwd / out.split("run directory: ")[-1].strip().splitlines()[0]


def records(folder: Path, name: str) -> list:
    path = folder / name
    if not path.is_file():
        return []
    if name.endswith(".json"):
        return [json.loads(line) for line in path.read_text().splitlines()]
    return path.read_text().splitlines()


def torchrun(node_rank: int, port: int, args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    """One of two torchrun "nodes" of one process each, meeting at localhost:`port` (c10d)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--node-rank", str(node_rank), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}",
           "--rdzv-id", "d2l-test", "--max-restarts", "0", "-m", "d2l_lightning", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class SignalRankAt(Callback):
    """Sends this process a real signal (`SIGUSR1`, `SIGKILL`, ...) after training batch `batch`
    of epoch `epoch` (0-based), on the ranks in `ranks` (all when None), each rank `stagger` batches
    later than the one before it (as signals reach the tasks of a job at different moments)."""

    def __init__(self, signal: str, epoch: int, batch: int, ranks: list[int] | None = None, stagger: int = 0):
        self.signal, self.epoch, self.batch, self.ranks, self.stagger = signal, epoch, batch, ranks, stagger

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        rank = trainer.global_rank
        if self.ranks is not None and rank not in self.ranks:
            return
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch + self.stagger * rank):
            os.kill(os.getpid(), getattr(signal, self.signal))


def signal_hook(folder: Path, signal: str, epoch: int, batch: int, **kwargs) -> Path:
    """A config file adding `SignalRankAt` to a run's callbacks."""
    args = {"signal": signal, "epoch": epoch, "batch": batch, **kwargs}
    path = folder / f"{signal.lower()}_hook.yaml"
    path.write_text("trainer:\n  callbacks:\n    - class_path: helpers.cluster.SignalRankAt\n"
                    f"      init_args: {json.dumps(args)}\n")
    return path
