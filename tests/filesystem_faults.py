"""Store faults made by the kernel, for the tests that watch the broker heal from them.

The suite runs as root, which a file mode does not stop: the immutable attribute does, and a
tmpfs mounted for the test runs out of space like any disk. Where the kernel or the
filesystem refuses either, the test asking for it is skipped with the reason.
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``paths`` refuse every write until the block ends."""
    made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True, check=False)
        pytest.skip(f"chattr +i is not available here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True, capture_output=True)


@contextmanager
def small_tmpfs(where: Path, size: str = "16m") -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


def fill(folder: Path) -> Path:
    """Take every free block of ``folder``'s filesystem; remove the file returned to free them."""
    filler = folder / "filler"
    try:
        with open(filler, "wb") as out:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
    except OSError as full:
        assert full.errno == errno.ENOSPC
    return filler


def truncate_wal(db_path: Path) -> None:
    """Checkpoint the WAL into the database and cut it to nothing, so that the next commit must
    grow a file (an existing WAL is rewritten in place once checkpointed, needing no block)."""
    with sqlite3.connect(db_path) as checkpoint:
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpoint.close()
