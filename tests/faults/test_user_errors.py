"""Every class of user mistake and machine fault is one paragraph, exit status 1 (2 for a script's
usage error), no traceback, and leaves no empty run folder behind; a bug keeps its traceback.
One test per row of the table in docs/faults.md."""

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.cli import QUIET, REPO, run_cli, tiny_data_args

from d2l_lightning import errors, runs
from d2l_lightning.plots import fractional_epochs

LINREG = ["--config", str(REPO / "configs/ch03/3.3_linreg.yaml")]


def fails(args: list[str], capsys, code: int = 1) -> str:
    """Runs the CLI, expects it to stop with `code`, returns stderr; checks the common contract."""
    with pytest.raises(SystemExit) as e:
        run_cli(args)
    assert e.value.code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
    return err


def no_run_folders() -> bool:
    return not Path("logs").exists() or not any(Path("logs").rglob("config.yaml"))


# --- Lightning's own checks, seeds, checkpoints: refused before any folder is made -------------------
@pytest.mark.parametrize("extra, message", [
    (["--trainer.accelerator", "gpu"], "drop configs/trainer/gpu.yaml"),
    (["--trainer.devices", "0"], "Lightning refused the settings"),
    (["--trainer.strategy", "no_such_strategy"], "Lightning refused the trainer settings"),
    (["--trainer.max_epochs", "-3"], "`max_epochs` must be a non-negative integer"),
    (["--trainer.max_epochs", "0"], "--trainer.max_epochs 0 trains nothing"),
    (["--trainer.limit_train_batches", "0"], "--trainer.limit_train_batches 0 trains nothing"),
    (["--seed_everything", "99999999999999999999"], "seed_everything must be in [0, 2**32 - 1]"),
    (["--ckpt_path", "best"], "--ckpt_path best is not supported"),
], ids=["gpu-without-gpu", "devices-0", "unknown-strategy", "negative-epochs", "zero-epochs",
        "zero-train-batches", "seed-out-of-range", "ckpt-best"])
def test_trainer_settings_are_one_paragraph_and_leave_nothing(extra, message, capsys):
    err = fails(["fit", *LINREG, *extra, *QUIET], capsys)
    assert message in err
    assert no_run_folders()


@pytest.mark.parametrize("command", ["test", "validate", "predict"])
def test_evaluating_without_a_checkpoint_is_refused(command, capsys):
    err = fails([command, *LINREG, *QUIET], capsys)
    assert f"{command} needs trained weights" in err and "--ckpt_path" in err
    assert no_run_folders()


def test_config_files_that_are_not_utf8_or_not_yaml_name_the_file_and_line(tmp_path, capsys):
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("trainer:\n  max_epochs: 2  # d\xe9j\xe0 vu\n".encode("latin-1"))
    err = fails(["fit", *LINREG, "--config", str(latin)], capsys, code=2)
    assert f"config file {latin} is not UTF-8" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("trainer:\n  max_epochs: 2\n   limit_val_batches: [1\n")
    err = fails(["fit", *LINREG, "--config", str(broken)], capsys, code=2)
    assert f"config file {broken} is not valid YAML at line 3" in err


def test_a_new_run_never_writes_into_an_existing_run_folder(capsys):
    first, _ = run_cli(["fit", *LINREG, "--trainer.max_epochs", "1", "--run_version", "v1", *QUIET])
    before = {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()}
    err = fails(["fit", *LINREG, "--trainer.max_epochs", "1", "--run_version", "v1", *QUIET], capsys)
    assert "exists already" in err and "--ckpt_path" in err
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*") if p.is_file()} == before


def test_zero_byte_and_unreadable_checkpoints(tmp_path, capsys):
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    for command in ("fit", "test"):
        err = fails([command, *LINREG, "--ckpt_path", str(empty), *QUIET], capsys)
        assert "is an empty file (0 bytes)" in err
    assert no_run_folders()


def test_resuming_a_finished_run_says_how_many_epochs_it_trained(capsys):
    run_dir, _ = run_cli(["fit", *LINREG, "--trainer.max_epochs", "2", *QUIET])
    ckpt = str(run_dir / "checkpoints" / "last.ckpt")
    for max_epochs in ("2", "1"):
        err = fails(["fit", *LINREG, "--trainer.max_epochs", max_epochs, "--ckpt_path", ckpt, *QUIET], capsys)
        assert "this run already trained 2 epoch(s)" in err and "--trainer.max_epochs > 2" in err


def test_a_model_with_the_wrong_number_of_outputs_is_refused_at_setup(fashion_dir, capsys):
    config = "configs/ch03/3.7_softmax.yaml"
    err = fails(["fit", "--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
                 "--data.init_args.classes", "[0, 1, 2]", *QUIET], capsys)
    assert "has 10 outputs (num_classes) but FashionMNIST has 3 classes" in err
    assert "--model.init_args.num_classes 3" in err and no_run_folders()


@pytest.mark.parametrize("val_split, message", [(1.0, "neither a fraction"), (2.5, "neither a fraction"),
                                                 (1e-9, "leaves no validation"), (10**6, "leaves no training")])
def test_val_split_must_hold_out_something_and_leave_something(val_split, message, fashion_dir, capsys):
    config = "configs/ch03/3.7_softmax.yaml"
    err = fails(["fit", "--config", str(REPO / config), *tiny_data_args(config, fashion_dir, fashion_dir),
                 "--data.init_args.val_split", str(val_split), *QUIET], capsys)
    assert message in err and no_run_folders()


# --- `--ckpt_path last` and run names -----------------------------------------------------------------
def test_ckpt_path_last_skips_debug_runs_and_other_models(capsys):
    smoke = ["--config", str(REPO / "configs/debug/smoke.yaml")]
    run_cli(["fit", *LINREG, *smoke, *QUIET])
    err = fails(["test", *LINREG, "--ckpt_path", "last", *QUIET], capsys)
    assert "debugging run" in err and "limit_train_batches 3" in err
    trained, _ = run_cli(["fit", *LINREG, "--trainer.max_epochs", "1", *QUIET])
    run_cli(["fit", *LINREG, *smoke, *QUIET])  # newer, but a smoke run
    _, out = run_cli(["test", *LINREG, "--ckpt_path", "last", *QUIET])
    assert f"testing {trained / 'checkpoints' / 'last.ckpt'} (1 epoch(s) trained)" in out
    assert "resuming" not in out
    # a smoke run resumes the newest smoke run
    _, out = run_cli(["fit", *LINREG, *smoke, "--trainer.max_epochs", "2", "--ckpt_path", "last", *QUIET])
    assert "resuming from" in out and str(trained) not in out


def test_stacked_section_configs_are_named_after_the_model_that_runs():
    softmax, lenet = REPO / "configs/ch03/3.7_softmax.yaml", REPO / "configs/ch05/5.5_lenet.yaml"
    assert runs.run_name(None, [softmax, lenet], "d2l_lightning.models.cnn.LeNet") == "5.5_lenet"
    assert runs.run_name(None, [lenet, REPO / "configs/trainer/cpu.yaml"], "LeNet") == "5.5_lenet"
    assert runs.run_name("mine", [softmax, lenet], "LeNet") == "mine"


# --- data files ----------------------------------------------------------------------------------------
@pytest.fixture
def house_copy(house_dir, tmp_path):
    copy = tmp_path / "house_copy"
    shutil.copytree(house_dir, copy)
    return copy


HOUSE = "configs/ch03/3.16_kaggle_house.yaml"


@pytest.mark.parametrize("content, message", [
    (b"", "is empty (0 bytes or no header)"),
    (b"Id,MSSubClass,LotArea,Street,Neighborhood\n", "has a header but no houses"),
    (b"Id,MSSubClass\n1,20\n2,60,7,8,9\n", "is not a valid CSV file"),
], ids=["zero-bytes", "header-only", "malformed"])
def test_empty_or_malformed_csv_files_are_one_paragraph(content, message, house_copy, capsys):
    (house_copy / "kaggle_house" / "test.csv").write_bytes(content)
    err = fails(["fit", "--config", str(REPO / HOUSE), *tiny_data_args(HOUSE, house_copy, house_copy), *QUIET],
                capsys)
    assert message in err and "test.csv" in err and no_run_folders()


def test_kaggle_predict_uses_the_preprocessing_the_model_was_trained_with(house_copy, tmp_path):
    args = ["--config", str(REPO / HOUSE), *tiny_data_args(HOUSE, house_copy, house_copy), *QUIET]
    run_dir, _ = run_cli(["fit", *args, "--trainer.max_epochs", "2"])
    ckpt = ["--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt")]
    full_dir, _ = run_cli(["predict", *args, *ckpt])
    full = pd.read_csv(full_dir / "submission.csv")
    one = tmp_path / "one_house"
    shutil.copytree(house_copy, one)
    test = pd.read_csv(one / "kaggle_house" / "test.csv")
    test.iloc[[3]].to_csv(one / "kaggle_house" / "test.csv", index=False)  # one house, on its own
    one_dir, _ = run_cli(["predict", *args, *ckpt, "--data.init_args.data_dir", str(one)])
    alone = pd.read_csv(one_dir / "submission.csv")
    assert alone["Id"].tolist() == [test["Id"].iloc[3]]
    assert alone["SalePrice"].iloc[0] == pytest.approx(full["SalePrice"].iloc[3], rel=1e-6)


def test_kfold_with_more_folds_than_houses(house_copy, capsys):
    err = fails(["fit", "--config", str(REPO / HOUSE), *tiny_data_args(HOUSE, house_copy, house_copy),
                 "--data.init_args.num_folds", "5000", "--data.init_args.fold", "0", *QUIET], capsys)
    assert "num_folds=5000 is more folds than there are training houses (60)" in err


def test_a_failed_download_into_a_mistyped_data_dir_leaves_no_folders(monkeypatch, tmp_path, capsys):
    from d2l_lightning.datamodules import download

    monkeypatch.delenv("D2L_OFFLINE")

    def no_network(url, target, checksum):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(download, "_download", no_network)
    typo = tmp_path / "dtaa" / "sub"
    err = fails(["fit", "--config", str(REPO / "configs/ch03/3.7_softmax.yaml"), "--data.init_args.data_dir",
                 str(typo), *QUIET], capsys)
    assert "cannot get FashionMNIST" in err and "Network is unreachable" in err
    assert not (tmp_path / "dtaa").exists() and no_run_folders()


# --- writing checkpoints -------------------------------------------------------------------------------
def test_checkpoint_writes_are_atomic_and_a_full_disk_is_one_paragraph(tmp_path, monkeypatch):
    from d2l_lightning import plugins

    io, target = plugins.AtomicCheckpointIO(), tmp_path / "checkpoints" / "best-001.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    good = target.read_bytes()
    real_save = torch.save

    def save_half_then_fail(obj, f):
        real_save(obj, f)
        f.truncate(10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plugins.torch, "save", save_half_then_fail)
    with pytest.raises(errors.CheckpointError) as e:
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, target)
    assert "No space left on device" in str(e.value) and "The disk is full" in str(e.value)
    assert str(target.parent) in str(e.value)
    assert target.read_bytes() == good  # the earlier checkpoint is untouched
    assert [p.name for p in target.parent.iterdir()] == ["best-001.ckpt"]  # no partial file left


def test_a_full_disk_during_fit_keeps_the_last_good_checkpoint(monkeypatch, capsys):
    from d2l_lightning import plugins

    real = plugins.AtomicCheckpointIO.save_checkpoint
    calls = []

    def fail_on_the_third(self, checkpoint, path, storage_options=None):
        calls.append(path)
        if len(calls) == 3:
            raise errors.CheckpointError(f"could not write the checkpoint {path} (No space left on device).")
        return real(self, checkpoint, path, storage_options)

    monkeypatch.setattr(plugins.AtomicCheckpointIO, "save_checkpoint", fail_on_the_third)
    err = fails(["fit", *LINREG, "--trainer.max_epochs", "3", *QUIET], capsys)
    assert "could not write the checkpoint" in err
    run_dir = next(Path("logs").glob("*/*"))  # kept: it holds a good checkpoint and metrics
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] < 2 and all(torch.isfinite(v).all() for v in state["state_dict"].values())


# --- the one place that explains failures ---------------------------------------------------------------
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                                  errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR])
def test_os_errors_by_errno_name_the_file_and_the_fix(code):
    error = errors.explain(OSError(code, "some reason", "/some/file"))
    assert isinstance(error, errors.D2LError) and "/some/file" in str(error) and "some reason" in str(error)


def test_known_failure_classes_are_explained_and_bugs_are_not():
    import pandas.errors
    import wandb.errors
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    wrapped = RuntimeError("while loading")
    wrapped.__cause__ = errors.DataError("the real problem")
    assert str(errors.explain(wrapped)) == "the real problem"
    assert errors.explain(MisconfigurationException("bad")) is not None
    assert errors.explain(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")) is not None
    assert errors.explain(pandas.errors.EmptyDataError("No columns to parse")) is not None
    assert "log offline" in str(errors.explain(wandb.errors.CommError("network is unreachable")))
    for bug in (IndexError("index 10 is out of bounds"), KeyError("x"), RuntimeError("shape mismatch"),
                OSError(errno.ENOENT, "No such file", "x"), ZeroDivisionError()):
        assert errors.explain(bug) is None


def test_a_bug_still_shows_its_traceback_and_leaves_no_empty_folder(monkeypatch):
    from d2l_lightning.core import module

    def broken(self, *a, **k):
        raise IndexError("a bug in a model")

    monkeypatch.setattr(module.D2LModule, "init_weights", broken)
    with pytest.raises(IndexError, match="a bug in a model"):
        run_cli(["fit", *LINREG, *QUIET])
    assert no_run_folders()


# --- curves ---------------------------------------------------------------------------------------------
def test_curves_put_each_point_in_its_own_epoch_when_steps_per_epoch_change():
    # epoch 0: 10 steps; resumed with twice the batch size: epoch 1 has 5; stopped in epoch 2
    rows = [{"epoch": 0, "step": s} for s in range(10)] + [{"epoch": 0, "step": 9, "train/loss": 1.0}]
    rows += [{"epoch": 1, "step": s} for s in range(10, 15)] + [{"epoch": 1, "step": 14, "train/loss": 0.5}]
    rows += [{"epoch": 2, "step": 16}]
    x = fractional_epochs(pd.DataFrame(rows)).round(3).tolist()
    assert x[:10] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert x[11:16] == [1.2, 1.4, 1.6, 1.8, 2.0] and x[-1] == 2.4


# --- scripts --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps: must be between 1 and 100000"),
    (["--x0", "1", "2", "3"], "--x0 takes two numbers"),
    (["--out", "no/such/folder/t.png"], "the folder no/such/folder does not exist"),
], ids=["steps-0", "x0-three-numbers", "out-in-missing-folder"])
def test_script_arguments_out_of_range_are_usage_errors(args, message, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import trajectory
    finally:
        sys.path.remove(str(REPO / "scripts"))
    with pytest.raises(SystemExit) as e:
        trajectory.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_trajectory_writes_into_logs_not_the_repository(capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import trajectory
    finally:
        sys.path.remove(str(REPO / "scripts"))
    trajectory.main(["--steps", "3"])
    assert Path("logs/trajectory.png").is_file() and not Path("trajectory.png").exists()


def test_make_clean_leaves_runs_alone():
    dry = subprocess.run(["make", "-n", "clean"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "rm -rf" in dry and "logs" not in dry.replace('-not -path "./logs/*"', "")
    dry = subprocess.run(["make", "-n", "clean-runs", "FORCE=1"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert "rm -rf logs" in dry


def test_a_mid_epoch_checkpoint_only_resumes_with_its_batch_size_and_processes():
    from types import SimpleNamespace

    from d2l_lightning.core.datamodule import D2LDataModule

    dm = D2LDataModule(batch_size=64)
    dm.trainer = SimpleNamespace(state=SimpleNamespace(fn="fit"), world_size=1)
    dm.load_state_dict({"train_batches_done": 7, "batch_size": 64, "world_size": 1})
    assert dm.take_resume_batches() == 7
    for saved in ({"batch_size": 32, "world_size": 1}, {"batch_size": 64, "world_size": 2}):
        with pytest.raises(errors.CheckpointError, match="saved in the middle of an epoch"):
            dm.load_state_dict({"train_batches_done": 7, **saved})
    dm.load_state_dict({"train_batches_done": 0, "batch_size": 32, "world_size": 2})  # epoch end: any
