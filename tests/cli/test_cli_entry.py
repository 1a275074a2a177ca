"""The installed `vigil` command: exit codes survive the quiet exit, and no teardown noise reaches users."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from fixtures.nights import TEST_KEY, write_night

VIGIL = Path(sys.executable).parent / "vigil"


def test_console_script_reports_success_quietly_and_failure_with_exit_1(tmp_path):
    landing = write_night(tmp_path / "landing")
    env = {**os.environ, "VIGIL_PSEUDONYMISATION_KEY": TEST_KEY.decode()}
    args = ["--landing", str(landing), "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out")]
    ok = subprocess.run([str(VIGIL), "run", "--date", "2026-03-02", "--create-warehouse", *args], capture_output=True,
                        text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2026-03-02 done" in ok.stdout and "data_docs" in ok.stdout
    assert "nanobind" not in ok.stderr and "leaked" not in ok.stderr
    bad = subprocess.run([str(VIGIL), "run", "--date", str(dt.date(2026, 3, 3)), *args], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "no delivery" in bad.stderr
