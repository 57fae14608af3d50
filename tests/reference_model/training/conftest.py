"""The toy model and a runner for in-process and subprocess training runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def toy() -> ModuleType:
    """tests/reference_model/training/toy_model.py (ToyPanopticNet)."""
    return _load("toy_model")


@pytest.fixture(scope="session")
def run_toy_main(toy: ModuleType) -> Callable[[list[str]], None]:
    """run_toy.main, called in this process with the given command line (needs `toy` loaded)."""
    module = _load("run_toy")

    def call(argv: list[str]) -> None:
        saved = sys.argv
        sys.argv = ["run_toy.py", *argv]
        try:
            module.main()
        finally:
            sys.argv = saved

    return call


def subprocess_env() -> dict[str, str]:
    """The environment of a training subprocess: the checkout importable, one thread each."""
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "metrics" / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _start_toy(args: list[str], *, torchrun: int = 0, **kwargs: Any) -> subprocess.Popen[str]:
    """Start run_toy.py (through torchrun with `torchrun` processes if > 0)."""
    script = str(HERE / "run_toy.py")
    if torchrun:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={torchrun}",
        ]
        command = [*launcher, script, *args]
    else:
        command = [sys.executable, script, *args]
    return subprocess.Popen(
        command,
        env=subprocess_env(),
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="session")
def start_toy() -> Callable[..., subprocess.Popen[str]]:
    """Start run_toy.py in a subprocess: start_toy(args, torchrun=N)."""
    return _start_toy
