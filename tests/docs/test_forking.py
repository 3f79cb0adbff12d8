"""docs/forking.md, followed as written: its example module and config go into a temporary folder
exactly as printed, and train, test and prepare their data through the CLI in-process; its Python
section runs as printed. Also: the version, the changelog, the licence and the data licences page."""

import re
import tomllib

import pytest
from helpers.cli import QUIET, REPO, run_cli

import d2l_lightning
import d2l_lightning.datamodules

GUIDE = (REPO / "docs" / "forking.md").read_text()
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> dict[str, str]:
    """The guide's code blocks by their first line's name: `# file: NAME` or `# python: NAME`."""
    named = {}
    for _, body in BLOCK.findall(GUIDE):
        first = body.split("\n", 1)[0]
        if m := re.match(r"# (?:file|python): (\S+)", first):
            named[m.group(1)] = body
    return named


def test_the_worked_example_trains_tests_and_loads_from_python(tmp_path, monkeypatch, capsys):
    code = blocks()
    assert {"blobs.py", "blobs.yaml", "from-python"} <= set(code)
    fork = tmp_path / "my_lab"
    fork.mkdir()
    for name in ("blobs.py", "blobs.yaml"):
        (fork / name).write_text(code[name])
    monkeypatch.syspath_prepend(str(fork))  # PYTHONPATH=. in the guide
    # one epoch of the config's five (a later flag overrides the config, as the guide says)
    run_dir, out = run_cli(["fit", "--config", str(fork / "blobs.yaml"), "--trainer.max_epochs", "1", *QUIET])
    assert run_dir.parent.name == "blobs" and (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert float(re.search(r"epoch 1, .*val acc ([0-9.]+)", out).group(1)) > 0.95, out
    test_dir, out = run_cli(["test", "--config", str(run_dir / "config.yaml"),
                             "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), *QUIET])
    assert test_dir != run_dir and "test/acc" in out

    with pytest.raises(SystemExit) as e:
        d2l_lightning.cli.main(["data", "--config", str(fork / "blobs.yaml")])
    assert e.value.code == 0 and "needs no files" in capsys.readouterr().out

    namespace: dict = {}
    exec(compile(code["from-python"], "docs/forking.md", "exec"), namespace)  # the section as printed
    w, b = namespace["model"].net.weight.data.flatten().tolist(), namespace["model"].net.bias.item()
    assert w == pytest.approx([2.0, -3.4], abs=0.01) and b == pytest.approx(4.2, abs=0.01)
    trained = namespace["trained"]
    assert type(trained).__name__ == "TinyMLP" and not trained.training


def test_one_version_named_in_the_changelog():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "d2l_lightning.__version__"}
    newest = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.M).group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", d2l_lightning.__version__)
    assert newest in (d2l_lightning.__version__, "Unreleased")


def test_licence_and_every_data_module_on_the_data_licences_page():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    page = (REPO / "docs" / "data_licences.md").read_text()
    missing = [name for name in d2l_lightning.datamodules.__all__ if f"`{name}`" not in page]
    assert not missing, f"add a row for {missing} to docs/data_licences.md"
