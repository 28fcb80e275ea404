"""Headless Chromium for the report tests: the DOM after load and every console message (Chromium logs them to
stderr as `INFO:CONSOLE...` with --enable-logging=stderr), and a screenshot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CONSOLE = re.compile(r":CONSOLE[:(\]]")


def find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(browser: str, args: list[str], timeout_s: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="flashsight-chromium-") as profile:
        argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              env=dict(os.environ, LANG="C.UTF-8"))


def dump_dom(browser: str, page: Path) -> tuple[str, list[str]]:
    """(the DOM after load, the console messages)."""
    done = _run(browser, ["--dump-dom", Path(page).resolve().as_uri()])
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if CONSOLE.search(line)]


def screenshot(browser: str, page: Path, target: Path, width: int = 1400, height: int = 2400) -> list[str]:
    done = _run(browser, [f"--screenshot={target}", f"--window-size={width},{height}", Path(page).resolve().as_uri()])
    assert done.returncode == 0 and Path(target).is_file(), done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if CONSOLE.search(line)]
