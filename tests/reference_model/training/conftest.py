"""The toy model and a runner for in-process and subprocess training runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).parent


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


def _start_toy(
    env: dict[str, str], args: list[str], *, torchrun: int = 0, **kwargs: Any
) -> subprocess.Popen[str]:
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
        env=env,
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="session")
def start_toy(checkout_env: dict[str, str]) -> Callable[..., subprocess.Popen[str]]:
    """Start run_toy.py in a subprocess: start_toy(args, torchrun=N)."""
    return partial(_start_toy, checkout_env)
