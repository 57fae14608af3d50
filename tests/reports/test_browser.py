"""Open the report in a real browser (Debian's chromium, headless): no console message, no
script error, every table and image present and decoded; then save a screenshot.

Chromium is installed with apt-get when missing (CI runs as root on Debian); where that is not
possible the test fails with the command to run, it never skips.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reports import Report

log = logging.getLogger(__name__)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WIDTH = 1400
HEADER_BLUE = (22, 50, 79)  # #16324f, the page header's background in the template


def _apt_install() -> None:
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    subprocess.run(install, env=env, capture_output=True, timeout=900, check=True)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium executable, installed with apt-get if missing and possible."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            _apt_install()
        except (subprocess.SubprocessError, OSError) as err:
            pytest.fail(f"installing chromium with apt-get failed: {err}")
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is needed for this test: run `apt-get install -y chromium` as root")
    return found


def _browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def _open(chromium: str, page: Path, profile: Path) -> tuple[dict[str, Any], list[str]]:
    """The page's self-check after its load event, and the console lines chromium logged."""
    dom = _browse(
        chromium,
        profile,
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        f"--window-size={WIDTH},1000",
        "--dump-dom",
        page.resolve().as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln]
    match = re.search(r'<pre id="self-check"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert match, "the page's self-check did not run (no load event?)"
    check: dict[str, Any] = json.loads(match.group(1))
    return check, console


@pytest.mark.slow
def test_the_report_opens_cleanly_in_chromium(
    chromium: str, built_report: Report, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("browser")
    report = built_report
    html = report.html.read_text()
    check, console = _open(chromium, report.html, out / "profile-dom")
    assert console == [], "the page wrote to the console:\n" + "\n".join(console)
    assert check["errors"] == []
    assert check["broken"] == []
    assert sorted(check["images"]) == sorted(re.findall(r'<img id="([^"]+)"', html))
    # 3 per-class plots, IoU histograms, PQ over thresholds, error decomposition, 3 panels,
    # 2 curves
    assert len(check["images"]) == 11
    assert check["tables"] == [
        "table-runs",
        "table-ablation",
        "table-differences",
        "table-errors",
        "table-groups",
        "table-cost-paper-cityscapes-1024x2048",
        "table-cost",
        "table-timings",
    ]

    shot = out / "screenshot.png"
    height = int(check["height"])
    taken = _browse(
        chromium,
        out / "profile-shot",
        f"--window-size={WIDTH},{height}",
        "--virtual-time-budget=10000",
        f"--screenshot={shot}",
        report.html.resolve().as_uri(),
    )
    assert taken.returncode == 0, taken.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (height, WIDTH, 3)
    assert tuple(pixels[8, 8]) == HEADER_BLUE  # the stylesheet was applied
    assert pixels.reshape(-1, 3).std(axis=0).min() > 20  # not a blank page
    log.info("screenshot of the report: %s", shot)


@pytest.mark.slow
def test_the_browser_check_sees_broken_images_and_console_errors(
    chromium: str, built_report: Report, tmp_path: Path
) -> None:
    """The negative control: the same checks on a page spoiled on purpose do fail."""
    html = built_report.html.read_text()
    first = re.search(r'<img id="([^"]+)" src="data:image/png;base64,[^"]+"', html)
    assert first
    spoiled = html.replace(
        first.group(0), f'<img id="{first.group(1)}" src="data:image/png;base64,AAAA"'
    )
    spoiled = spoiled.replace("</body>", '<script>console.error("spoiled");</script></body>')
    page = tmp_path / "spoiled.html"
    page.write_text(spoiled)
    check, console = _open(chromium, page, tmp_path / "profile")
    assert check["broken"] == [first.group(1)]
    assert any('"spoiled"' in line for line in console)
    assert "spoiled" in check["errors"]
