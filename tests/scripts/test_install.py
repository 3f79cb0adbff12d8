"""The set-up script: two checkouts on this machine share the cached environment, and each one's
`.venv` runs its own code (a fork beside the original must not run the original's code)."""

import os
import subprocess
from pathlib import Path

import pytest
from helpers.cli import REPO

MADE_FOR = REPO / ".venv" / "made-for"


@pytest.mark.skipif(not MADE_FOR.is_file() or not (REPO / ".git").exists(),
                    reason="needs a git checkout set up by scripts/install.sh")
def test_a_second_checkout_gets_its_own_venv_over_the_shared_environment(tmp_path):
    shared = Path(MADE_FOR.read_text().split()[0])
    assert (shared / ".complete").is_file()
    fork = tmp_path / "fork"
    subprocess.run(["git", "clone", "-q", str(REPO), str(fork)], check=True)
    (fork / "d2l_lightning" / "fork_marker.py").write_text("WHO = 'fork'\n")
    # the same cache root: reuses the environment (building one would take minutes and is not tested)
    env = {**os.environ, "D2L_VENV_CACHE": str(shared.parent)}
    subprocess.run(["bash", "scripts/install.sh"], cwd=fork, env=env, check=True, timeout=120)
    code = ("import d2l_lightning, importlib.util as u; "
            "print(d2l_lightning.__file__, u.find_spec('d2l_lightning.fork_marker') is not None)")
    for checkout, marker in ((fork, "True"), (REPO, "False")):
        out = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", code], cwd=tmp_path,
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == [str(checkout / "d2l_lightning" / "__init__.py"), marker]


def test_an_unknown_torch_variant_is_refused_before_anything_is_built(tmp_path):
    env = {**os.environ, "D2L_TORCH": "rocm", "D2L_VENV_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(["bash", str(REPO / "scripts" / "install.sh")], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "D2L_TORCH is 'rocm'" in out.stderr and "set it to cpu" in out.stderr
    assert not (tmp_path / "cache").exists()
