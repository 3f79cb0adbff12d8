"""The cluster path on one CPU machine, the CLI launched as a cluster launches it: the SLURM job
script through stand-ins for `srun`/`scontrol` (SIGUSR1 before the time limit, requeue, SIGTERM,
the requeued job), torchrun with two "nodes", a rank killed mid-training, and Ctrl-C under DDP.
Each compares with, or resumes into, a plain `ddp_cpu` run of the same tiny training."""

import glob
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args
from helpers.cluster import (
    cli_env,
    free_port,
    free_slurm_job_id,
    link_repo,
    records,
    run_dir_of,
    sbatch_env,
    signal_hook,
    torchrun,
)

pytestmark = pytest.mark.multiprocess

CONFIG = "configs/ch03/3.13_dropout.yaml"  # dropout and shuffled batches: RNG and data order matter
DDP_CPU = ["--config", str(REPO / "configs/trainer/ddp_cpu.yaml")]
TIMEOUT = 240


def _args(fashion_dir):
    return ["--config", str(REPO / CONFIG), *tiny_data_args(CONFIG, fashion_dir, fashion_dir),
            "--trainer.max_epochs", "2", *QUIET]


def _fit(args, cwd, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "d2l_lightning", "fit", *args], cwd=cwd, env=env or cli_env(),
                          capture_output=True, text=True, timeout=TIMEOUT)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def _per_epoch(run_dir):
    # (wall-clock columns differ between any two runs)
    metrics = pd.read_csv(run_dir / "metrics.csv").drop(
        columns=["step", "train/epoch_time", "train/samples_per_sec"], errors="ignore")
    return metrics.groupby("epoch").last()


def _same_training(a, b):
    pd.testing.assert_frame_equal(_per_epoch(a), _per_epoch(b), check_exact=True)
    sa = torch.load(a / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    sb = torch.load(b / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, fashion_dir):
    """The uninterrupted run: 2 CPU processes started by Lightning's own launcher (`ddp_cpu`)."""
    cwd = tmp_path_factory.mktemp("reference")
    proc = _fit([*_args(fashion_dir), *DDP_CPU], cwd)
    return run_dir_of(proc.stdout, cwd)


@pytest.mark.slow  # ~55 s: `make test-all` (the 5-minute budget of `make test`)
def test_slurm_job_requeued_by_sigusr1_continues_in_its_folder_as_if_uninterrupted(tmp_path, fashion_dir,
                                                                                    reference):
    """`sbatch scripts/slurm/train.sbatch` on 1 node x 2 tasks through the stand-ins. SIGUSR1 reaches
    rank 0 after batch 0 of epoch 2 and would reach rank 1 a batch later (both stop after the batch
    where rank 0 got it); rank 0 requeues the job, and the stand-in `scontrol` sends SIGTERM to every
    task still running (rank 0 at least, waiting for it) as SLURM does. The same script run again,
    as the requeued job, continues in `slurm-<id>` from that checkpoint: one metrics.csv and one W&B
    run, equal to the uninterrupted run."""
    link_repo(tmp_path)
    job = free_slurm_job_id()
    env = sbatch_env(tmp_path, job, ntasks=2)
    env.pop("WANDB_MODE")  # the script's default: offline
    hook = signal_hook(tmp_path, "SIGUSR1", epoch=1, batch=0, stagger=1)
    script = ["bash", str(REPO / "scripts/slurm/train.sbatch"), CONFIG, *_args(fashion_dir)[2:],
              "--trainer.accelerator", "cpu"]
    first = subprocess.run([*script, "--config", str(hook)], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=TIMEOUT)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    run_dir = tmp_path / "logs" / "3.13_dropout" / f"slurm-{job}"
    last = run_dir.relative_to(tmp_path) / "checkpoints" / "last.ckpt"
    assert f"received SIGUSR1 in epoch 2 after 1 of its 3 batches (step 4): saved {last}" in first.stdout
    assert f"Requeued SLURM job {job}" in first.stdout
    assert records(tmp_path, "scontrol.log") == [f"requeue {job}"]
    [srun] = records(tmp_path, "srun.json")
    assert srun["argv"][:4] == ["--kill-on-bad-exit=1", ".venv/bin/python", "-m", "d2l_lightning"]
    flags = " ".join(srun["argv"])
    assert "--config configs/trainer/ddp.yaml --trainer.num_nodes 1 --trainer.devices 2" in flags
    assert srun["env"]["WANDB_MODE"] == "offline"
    assert pd.read_csv(run_dir / "metrics.csv")["epoch"].max() == 0
    assert not list(run_dir.glob("hpc_ckpt_*.ckpt"))  # Lightning's own SLURM handler stayed out

    second = subprocess.run(script, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    rank0 = "\n".join(line for line in second.stderr.splitlines() if "[rank1]" not in line)
    assert second.returncode == 0, second.stdout[-2000:] + rank0[-4000:]
    assert f"requeued SLURM job {job}: resuming from {last}" in second.stdout
    assert list((tmp_path / "logs" / "3.13_dropout").iterdir()) == [run_dir]
    assert list(_per_epoch(run_dir).index) == [0, 1]
    _same_training(reference, run_dir)
    # one W&B run across the two attempts (one offline folder each, the same run id), and its
    # `wandb sync` command printed once by each attempt
    ids = {p.rsplit("-", 1)[-1] for p in glob.glob(str(run_dir / "wandb" / "offline-run-*"))}
    assert len(ids) == 1 and len(glob.glob(str(run_dir / "wandb" / "offline-run-*"))) == 2
    for out in (first.stdout, second.stdout):
        assert len(re.findall(r"wandb sync \S+", out)) == 1


@pytest.mark.slow  # ~20 s of process start-up: `make test-all` (the 5-minute budget of `make test`)
def test_torchrun_two_nodes_write_one_run_folder_and_train_as_ddp_cpu(tmp_path, fashion_dir, reference):
    """`torchrun --nnodes 2 --nproc-per-node 1 --node-rank 0/1` with a c10d rendezvous on localhost:
    the second "node" inherits nothing from the first, yet both write into one run folder, and the
    training equals Lightning's own 2-process launch."""
    port, env = free_port(), cli_env()
    args = ["fit", *_args(fashion_dir), *DDP_CPU, "--trainer.num_nodes", "2", "--trainer.devices", "1"]
    nodes = [torchrun(rank, port, args, tmp_path, env) for rank in (0, 1)]
    outs = [node.communicate(timeout=TIMEOUT) for node in nodes]
    for node, (out, err) in zip(nodes, outs):
        assert node.returncode == 0, out[-2000:] + err[-3000:]
    runs = list((tmp_path / "logs" / "3.13_dropout").iterdir())
    assert len(runs) == 1 and f"run directory: {runs[0].relative_to(tmp_path)}" in outs[0][0] + outs[1][0]
    _same_training(reference, runs[0])


@pytest.mark.slow  # ~20 s of process start-up: `make test-all` (the 5-minute budget of `make test`)
def test_a_killed_rank_stops_the_others_with_its_name_and_the_checkpoint_resumes(tmp_path, fashion_dir):
    """SIGKILL to rank 1 in epoch 2 (a lost node): rank 0 stops within seconds, with one paragraph
    naming rank 1, instead of waiting in a collective; epoch 1's checkpoint stays and resumes."""
    hook = tmp_path / "hook.yaml"
    hook.write_text("trainer:\n  callbacks:\n"
                    "    - class_path: helpers.cluster.SignalRankAt\n"
                    "      init_args: {signal: SIGKILL, epoch: 1, batch: 0, ranks: [1]}\n"
                    "    - class_path: d2l_lightning.callbacks.LostRankWatch\n"
                    "      init_args: {timeout: 5}\n")
    proc = subprocess.Popen([sys.executable, "-m", "d2l_lightning", "fit", *_args(fashion_dir), *DDP_CPU,
                             "--config", str(hook)], cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:  # the clock starts when epoch 2 begins (rank 1 dies after its first batch)
        lines.append(line)
        if line.startswith("epoch 1,"):
            break
    start = time.monotonic()
    out, err = proc.communicate(timeout=TIMEOUT)
    took = time.monotonic() - start
    assert proc.returncode == 1, "".join(lines) + out + err[-3000:]
    message = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "rank 1 (on " in message[0] and "ended by SIGKILL) of 2 stopped answering" \
        in message[0], err[-3000:]
    assert took < 20, took  # gloo sees the closed connection at once; the check takes 3 intervals
    ckpt = message[0].split("The last good checkpoint, ")[1].split(", is kept")[0]
    assert torch.load(ckpt, weights_only=True)["epoch"] == 0
    resumed, out = run_cli(["fit", *_args(fashion_dir), "--ckpt_path", ckpt, "--trainer.max_epochs", "2"])
    assert "epoch 2, loss" in out and list(_per_epoch(resumed).index) == [0, 1]


@pytest.mark.slow  # ~20 s of process start-up: `make test-all` (the 5-minute budget of `make test`)
def test_ctrl_c_under_ddp_saves_says_how_to_resume_and_exits_130(tmp_path, fashion_dir):
    """Ctrl-C reaches every process of the terminal's process group: SIGINT to both ranks, rank 1
    a batch later. Both stop after the same batch, last.ckpt is saved mid-epoch, the resume command
    is printed, and the command exits with 130 (resuming such a checkpoint under DDP is exact: the
    SLURM test above and tests/faults)."""
    hook = signal_hook(tmp_path, "SIGINT", epoch=1, batch=0, stagger=1)
    proc = _fit([*_args(fashion_dir), *DDP_CPU, "--config", str(hook)], tmp_path, check=False)
    assert proc.returncode == 128 + signal.SIGINT, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "received SIGINT in epoch 2 after 1 of its 3 batches (step 4)" in proc.stdout
    run_dir = run_dir_of(proc.stdout, tmp_path)
    resume = proc.stdout.split("Resume with: ")[1].splitlines()[0]
    config = run_dir.relative_to(tmp_path) / 'config.yaml'
    assert resume == f"python -m d2l_lightning fit --config {config} --ckpt_path last"
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["global_step"] == 4
