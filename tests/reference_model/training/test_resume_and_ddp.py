"""The two guarantees of the trainer that need real processes:

- a run killed with SIGKILL mid-way and resumed ends with bit-identical weights (and the same
  loss log) as an uninterrupted run;
- a 2-process gloo DDP run through torchrun computes the same losses and weights as one
  process on the full batch.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from reference_model.training import load_checkpoint

pytestmark = [pytest.mark.needs_torch, pytest.mark.slow]


def _log(run: Path) -> list[dict[str, float]]:
    entries = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in e.items() if k != "time"} for e in entries]


def _assert_same_state(a: dict, b: dict, *, exact: bool) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if exact:
            assert torch.equal(a[key], b[key]), key
        else:
            assert torch.allclose(a[key], b[key], rtol=1e-5, atol=1e-6), key


def test_sigkill_then_resume_equals_uninterrupted(
    synthetic_root: Path,
    tmp_path: Path,
    run_toy_main: Callable[[list[str]], None],
    start_toy: Callable[..., subprocess.Popen[str]],
) -> None:
    args = ["--data", str(synthetic_root), "--iterations", "40", "--checkpoint-every", "5"]
    args += ["--workers", "2"]
    killed = tmp_path / "killed"
    proc = start_toy([*args, "--run-dir", str(killed)])
    checkpoint = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, output
    done = load_checkpoint(checkpoint)["iteration"]
    assert 5 <= done < 40, "the run was not killed mid-way"

    resumed = start_toy([*args, "--run-dir", str(killed), "--resume"])
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert f"resumed {killed} at iteration {done}" in output

    straight = tmp_path / "straight"
    saved = torch.get_num_threads()
    try:
        run_toy_main([*args, "--run-dir", str(straight)])  # in-process: saves a start-up
    finally:
        torch.set_num_threads(saved)
    a, b = load_checkpoint(checkpoint), load_checkpoint(straight / "checkpoints" / "last.pt")
    assert a["iteration"] == b["iteration"] == 40
    _assert_same_state(a["model"], b["model"], exact=True)
    momentum = [s["momentum_buffer"] for s in a["optimizer"]["state"].values()]
    reference = [s["momentum_buffer"] for s in b["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(momentum, reference, strict=True))
    assert _log(killed) == _log(straight)
    environment = json.loads((killed / "environment.json").read_text())
    assert len(environment["resumed"]) == 1


def test_two_process_ddp_equals_one_process_on_the_full_batch(
    synthetic_root: Path,
    tmp_path: Path,
    run_toy_main: Callable[[list[str]], None],
    start_toy: Callable[..., subprocess.Popen[str]],
) -> None:
    """GroupNorm and no dropout: nothing in the toy model depends on the per-rank batch, and
    its loss is a mean over images, so averaged gradients equal the full-batch gradient."""
    args = ["--data", str(synthetic_root), "--iterations", "4", "--checkpoint-every", "4"]
    args += ["--norm", "group", "--dropout", "0", "--scale", "1", "1", "--batch", "2"]
    ddp = start_toy([*args, "--run-dir", str(tmp_path / "ddp")], torchrun=2)
    output, _ = ddp.communicate(timeout=300)
    assert ddp.returncode == 0, output
    saved = torch.get_num_threads()
    try:
        run_toy_main([*args, "--run-dir", str(tmp_path / "single")])
    finally:
        torch.set_num_threads(saved)
    ddp_log, single_log = _log(tmp_path / "ddp"), _log(tmp_path / "single")
    assert [e["iteration"] for e in ddp_log] == [1, 2, 3, 4]
    for d, s in zip(ddp_log, single_log, strict=True):
        assert d.keys() == s.keys()
        for key in d:
            assert d[key] == pytest.approx(s[key], rel=1e-5), (d["iteration"], key)
    a = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")
    _assert_same_state(a["model"], b["model"], exact=False)
    assert len(a["rng"]) == 2  # every rank's generator state
    environment = json.loads((tmp_path / "ddp" / "environment.json").read_text())
    assert environment["world_size"] == 2
