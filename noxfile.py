"""Every way to run the project: `nox -l` lists the sessions, `nox` runs the default ones.

Sessions reuse their virtualenv, so torch (about 2 minutes from a local wheel) is installed
once per venv. Tool versions come from pyproject.toml's dependency groups.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

nox.options.default_venv_backend = "virtualenv"  # pip sees the local torch wheels; uv does not
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint", "typecheck"]

# The harness: the metrics library from ./metrics (with its extras) and this project, editable.
HARNESS = ("./metrics[all]", "-e", ".")
PYTEST_FLAGS = ("--strict-markers", "--strict-config", "-ra")


def _install_harness(session: nox.Session, *groups: str) -> None:
    session.install(*HARNESS, *nox.project.dependency_groups(PYPROJECT, *groups))


def _install_panopticapi(session: nox.Session) -> None:
    """panopticapi, the PQ reference run by tests/metrics: PyPI's panopticapi-lite pins
    numpy<2, which its code does not need, so it goes in without its dependencies."""
    session.install("--no-deps", "panopticapi-lite")


def _run_module(session: nox.Session, module: str) -> None:
    """`python -m module posargs`, with a clear message while that part is not built yet."""
    path = ROOT.joinpath(*module.split("."))
    if not (path.with_suffix(".py").exists() or (path / "__main__.py").exists()):
        session.error(f"{module} does not exist yet in this checkout (see the open issues)")
    session.run("python", "-m", module, *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite on the CPU (torch venv), then the torch-free metrics session."""
    _install_harness(session, "test")
    _install_panopticapi(session)
    session.run("pytest", *PYTEST_FLAGS, *session.posargs)
    session.notify("metrics")


@nox.session
def metrics(session: nox.Session) -> None:
    """Install ./metrics (with its extras) into a torch-free venv, check it imports and run its
    tests there."""
    session.install("./metrics")  # first bare: numpy, numba, Pillow and zlib-ng only
    session.run(
        "python",
        "-c",
        "import importlib.util, sys, panoptic_metrics; "
        "assert importlib.util.find_spec('torch') is None, 'torch must not be installed here'; "
        "assert 'torch' not in sys.modules; "
        "print('panoptic_metrics', panoptic_metrics.__version__, 'imports without torch')",
    )
    session.run("panoptic-metrics", "evaluate", "--help", silent=True)
    session.run("panoptic-metrics", "--version")  # the inflate in use, in the log
    session.install("./metrics[all]", *nox.project.dependency_groups(PYPROJECT, "metrics-test"))
    _install_panopticapi(session)
    session.run(
        "pytest",
        *PYTEST_FLAGS,
        "-m",
        "not needs_torch",
        "tests/metrics",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy (strict) on panoptic_metrics."""
    session.install("./metrics", *nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "metrics/src/panoptic_metrics")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy (strict) on reference_model, benchmark and reports, in the harness venv."""
    # torch-free, as `lint` is, mypy sees torch as Any: every nn.Module subclass is an error and
    # nothing tensor-valued is checked; so this session installs what the tests install
    _install_harness(session, "test", "bench", "lint")
    session.run("mypy", "reference_model", "benchmark", "reports", *session.posargs)


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """The long run of the fuzz suite (tests/metrics/fuzz): about 85,000 damaged PNGs and JSON
    documents, with numba's bounds checks on; prints the inputs accepted and refused per family.

    Environment: FUZZ_EXAMPLES (examples per family), FUZZ_MUTANTS (inputs per example, at
    most), FUZZ_SEED; pytest arguments after `--`.
    """
    session.install("./metrics[all]", *nox.project.dependency_groups(PYPROJECT, "metrics-test"))
    cache = Path(session.create_tmp()) / "numba-boundscheck"
    shutil.rmtree(cache, ignore_errors=True)  # cached kernels were compiled without the checks
    env = {
        "NUMBA_BOUNDSCHECK": "1",
        "NUMBA_CACHE_DIR": str(cache),
        "FUZZ_EXAMPLES": os.environ.get("FUZZ_EXAMPLES", "1000"),
        "FUZZ_MUTANTS": os.environ.get("FUZZ_MUTANTS", "12"),
        "FUZZ_SEED": os.environ.get("FUZZ_SEED", "1"),
    }
    session.run(
        "pytest",
        *PYTEST_FLAGS,
        "-p",
        "no:cacheprovider",
        "tests/metrics/fuzz",
        *session.posargs,
        env=env,
    )


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The main job: synthetic data -> train -> evaluate -> report, on the CPU."""
    _install_harness(session)
    _run_module(session, "benchmark.demo")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks (pytest-benchmark), side by side with the peers."""
    _install_harness(session, "bench", "test")
    _install_panopticapi(session)  # a peer of the speed benchmark
    session.run(
        "pytest",
        *PYTEST_FLAGS,
        "benchmark",
        "--benchmark-only",
        "--benchmark-columns=min,median,max,rounds",
        *session.posargs,
    )


@nox.session(default=False)
def reproduce(session: nox.Session) -> None:
    """The paper's experiments on a real dataset: `nox -s reproduce -- --dataset cityscapes ...`."""
    _install_harness(session)
    _run_module(session, "benchmark.reproduce")


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Rebuild the HTML report from existing run directories: `nox -s report -- RUNS...`."""
    _install_harness(session)
    _run_module(session, "reports")
