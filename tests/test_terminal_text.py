"""Text from the data reaches the terminal with its control characters shown
as escapes (ingestion.terminal_text), in run errors and `predict` lines."""

from __future__ import annotations

import os
import subprocess
import sys

from ingestion.terminal_text import terminal_safe

TIEDFLOW = os.path.join(os.path.dirname(sys.executable), "tiedflow")
HOSTILE = "red\x1b[31m\x1b]0;owned\x07\rover\u202eevil\x9b"


def test_control_characters_become_visible_escapes():
    assert terminal_safe(HOSTILE) == "red\\x1b[31m\\x1b]0;owned\\x07\\rover\\u202eevil\\x9b"
    assert terminal_safe("café 猫\tb\nc") == "café 猫\tb\nc"  # text as it is
    assert terminal_safe(7) == "7"


def test_an_error_naming_a_hostile_path_shows_it_escaped(tmp_path):
    data = str(tmp_path / f"images{HOSTILE}")
    proc = subprocess.run(
        [TIEDFLOW, "run", "--data", data, "--output-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr
    assert "images" + terminal_safe(HOSTILE) in proc.stderr, proc.stderr
