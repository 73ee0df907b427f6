"""The private report store (settings.REPORT_STORE): not under static or media, never served
by URL. Files are named from the run's id only (no person, child or centre in a file name),
and readable by the application's own user only (0600; a folder it creates is 0700)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from django.conf import settings


def _root() -> Path:
    root = Path(settings.REPORT_STORE)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def save(name: str, content: bytes) -> str:
    """Write `content` under `name` atomically (a temporary file, then a rename); return its
    sha256. Writing the same name again with the same content is harmless."""
    if "/" in name or name.startswith("."):
        raise ValueError("a report file name is a bare name")
    path = _root() / name
    tmp = path.with_suffix(path.suffix + ".part")
    # 0600 whatever the umask: reports hold aggregates, but they are still not public.
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with open(descriptor, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return hashlib.sha256(content).hexdigest()


def read(name: str) -> bytes:
    return (_root() / name).read_bytes()


def path_of(name: str) -> Path:
    return _root() / name
