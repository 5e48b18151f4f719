"""Tests of atomic JSON writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mlsched.model import write_json_atomic


def test_atomic_write_uses_umask_permissions(tmp_path: Path) -> None:
    """Tests that a written file gets 0o666 minus the umask, not 0o600.

    With umask 022 a schedule must be readable by others (0o644), as any
    file a tool writes normally is.
    """
    old = os.umask(0o022)
    try:
        target = tmp_path / "out.json"
        write_json_atomic(target, {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    """Tests that a failed write leaves the previous file and no temp."""
    target = tmp_path / "out.json"
    target.write_text('{"old": true}')
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
