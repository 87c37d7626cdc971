"""Crash-safe publishing: write into a hidden staging directory, then ``os.rename`` it into place.

A rename within one filesystem is atomic, so readers see either nothing or a complete directory.
Staging directories carry the writer's pid; one whose process is gone was left by a crash and is
removed by the next writer, while those of writers still running are left alone.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

STAGING_PREFIX = ".staging-"


def new_staging_dir(parent: Path, label: str) -> Path:
    """Create an empty staging directory in ``parent`` (same filesystem as the final location)."""
    parent.mkdir(parents=True, exist_ok=True)
    path = parent / f"{STAGING_PREFIX}{label}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def remove_stale_staging(parent: Path) -> list[Path]:
    """Delete staging directories in ``parent`` whose writer process no longer exists; return them."""
    removed = []
    for path in parent.glob(f"{STAGING_PREFIX}*") if parent.is_dir() else ():
        if not _writer_alive(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def replace_dir(staging: Path, target: Path) -> None:
    """Move the finished ``staging`` directory to ``target``, replacing an older ``target`` if any."""
    if target.exists():
        retired = target.parent / f"{STAGING_PREFIX}{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(target, retired)
        os.rename(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, target)


def _writer_alive(path: Path) -> bool:
    try:
        pid = int(path.name.rsplit("-", 2)[1])
    except (IndexError, ValueError):
        return False  # not one of ours in a known format: nothing can still be writing it
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
