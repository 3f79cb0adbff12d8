"""requirements.lock is one lock for every platform: Linux gets PyPI's CUDA builds of torch with their
CUDA libraries, macOS (arm64) and Windows get the same versions without them. The marker checks run
offline; the resolution check asks the package index (uv resolves, installs nothing) and is skipped,
saying why, when the index cannot be reached."""

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers.cli import REPO
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = REPO / "requirements.lock"
PYTHON = "3.11"  # the oldest Python the project supports (pyproject's requires-python)
# packages that are only CUDA: none of them may reach a platform without NVIDIA's CUDA builds
CUDA_ONLY = re.compile(r"^(nvidia-|cuda-|triton$)")
# uv's --python-platform name: that platform's environment markers
PLATFORMS = {
    "x86_64-manylinux_2_28": {"sys_platform": "linux", "platform_system": "Linux",
                              "platform_machine": "x86_64", "os_name": "posix"},
    "aarch64-manylinux_2_28": {"sys_platform": "linux", "platform_system": "Linux",
                               "platform_machine": "aarch64", "os_name": "posix"},
    "aarch64-apple-darwin": {"sys_platform": "darwin", "platform_system": "Darwin",
                             "platform_machine": "arm64", "os_name": "posix"},
    "x86_64-pc-windows-msvc": {"sys_platform": "win32", "platform_system": "Windows",
                               "platform_machine": "AMD64", "os_name": "nt"},
}
WITHOUT_CUDA = ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"]


def lock_lines() -> list[Requirement]:
    lines = [line.strip() for line in LOCK.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def locked_for(platform: str) -> dict[str, str]:
    """The lock's pins whose markers hold on `platform`: canonical name -> version."""
    env = {**default_environment(), **PLATFORMS[platform],
           "python_version": PYTHON, "python_full_version": f"{PYTHON}.0"}
    return {canonicalize_name(r.name): str(r.specifier)[2:] for r in lock_lines()
            if r.marker is None or r.marker.evaluate(env)}


def test_every_line_is_one_exact_pin():
    reqs = lock_lines()
    assert len(reqs) > 50
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in reqs)
    names = [canonicalize_name(r.name) for r in reqs]
    assert len(names) == len(set(names)), "a package pinned twice (a forked resolution)"
    # one torch everywhere: every platform trains with the same versions
    assert all(r.marker is None for r in reqs if r.name in ("torch", "torchvision", "pytorch-lightning"))


def test_cuda_packages_only_where_torch_is_a_cuda_build():
    linux = locked_for("x86_64-manylinux_2_28")
    assert {"torch", "triton", "nvidia-cudnn-cu13", "nvidia-cublas", "nvidia-nccl-cu13"} <= set(linux)
    # PyPI's Linux aarch64 torch is a CUDA build too (NVIDIA's ARM servers): the same CUDA stack
    assert {n for n in locked_for("aarch64-manylinux_2_28") if CUDA_ONLY.match(n)} == \
        {n for n in linux if CUDA_ONLY.match(n)}
    for platform in WITHOUT_CUDA:
        pins = locked_for(platform)
        assert pins["torch"] == linux["torch"]
        assert not [n for n in pins if CUDA_ONLY.match(n)], platform
    assert "colorama" in locked_for("x86_64-pc-windows-msvc") and "colorama" not in linux


def _uv() -> str | None:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))


def _index_unreachable() -> str | None:
    index = (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
             or "https://pypi.org/simple").rstrip("/")
    try:
        urllib.request.urlopen(f"{index}/pip/", timeout=5).close()
    except (urllib.error.URLError, OSError) as e:
        return f"the package index {index} is unreachable ({e}); the lock's resolution needs it"
    return None


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_the_lock_resolves_on_each_platform_to_exactly_its_pins(platform, tmp_path):
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (it comes with the lock's dev tools: run `make install`)")
    if reason := _index_unreachable():
        pytest.skip(reason)
    # torch's macOS wheels are for macOS 14 and later; uv assumes 13 unless told
    env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": "14.0"}
    out = subprocess.run(
        [uv, "pip", "compile", str(LOCK), "--python-platform", platform, "--python-version", PYTHON,
         "--only-binary", ":all:", "--no-header", "--no-annotate", "--quiet"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    pins = [Requirement(line) for line in out.stdout.splitlines() if line.strip() and line[0] != "#"]
    resolved = {canonicalize_name(r.name): str(r.specifier)[2:] for r in pins}
    # nothing the lock leaves out for this platform comes in through a dependency, nothing is missing
    assert resolved == locked_for(platform)
    if platform in WITHOUT_CUDA:
        assert not [n for n in resolved if CUDA_ONLY.match(n)]
