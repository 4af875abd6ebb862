"""Writing an enrolment's files: all of them or none.

Bad input is refused before this runs; what can still fail here is the file system. Files are
written under a temporary name and renamed into place only once every one was written, so an
interrupted run never leaves a half-written template beside a fragment that names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def write_all(out: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` (relative path → text) under ``out``; return the paths written."""
    staged: list[tuple[Path, Path]] = []
    try:
        for relative, text in files.items():
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_text(text, encoding="utf-8")
            staged.append((temporary, target))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        os.replace(temporary, target)
    return [target for _, target in staged]
