"""The private report store: Django's `reports` storage (settings.STORAGES), a local folder
(settings.REPORT_STORE) or an S3-compatible bucket. Never served by URL: downloads open the file
here and stream it through the application's permission check. Files are named from the run's id
only (no person, child or centre in a file name); in the folder they are readable by the
application's own user only (0600; a folder it creates is 0700)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.functional import cached_property

ALIAS = "reports"


class ReportFileStorage(FileSystemStorage):
    """The local folder. Unlike FileSystemStorage, a write replaces the file atomically (a
    temporary file in the same folder, then a rename), so a reader never sees half a report and
    writing a name again keeps the name; it has no URL; and without a location it follows
    settings.REPORT_STORE when that changes (tests point it at their own folder)."""

    def __init__(
        self,
        location: str | os.PathLike[str] | None = None,
        file_permissions_mode: int | None = 0o600,
        directory_permissions_mode: int | None = 0o700,
    ) -> None:
        super().__init__(
            location=location,
            file_permissions_mode=file_permissions_mode,
            directory_permissions_mode=directory_permissions_mode,
            allow_overwrite=True,
        )
        self._report_location = location

    @cached_property
    def base_location(self) -> str:
        return os.fspath(self._report_location or settings.REPORT_STORE)

    def _clear_cached_properties(self, setting: str, **kwargs: Any) -> None:
        if setting == "REPORT_STORE":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)
        else:
            super()._clear_cached_properties(setting, **kwargs)  # type: ignore[arg-type]

    def url(self, name: str | None) -> str:
        raise NotImplementedError("report files have no URL: they are downloaded through the app")

    def _save(self, name: str, content: File[Any]) -> str:
        path = Path(self.path(name))
        path.parent.mkdir(
            mode=self.directory_permissions_mode or 0o700, parents=True, exist_ok=True
        )
        # mkstemp makes the file 0600 whatever the umask; the chmod below keeps a configured mode.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as fh:
                for chunk in content.chunks():
                    fh.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                fh.flush()
                os.fsync(fh.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(temporary, self.file_permissions_mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name


def _store() -> Storage:
    return storages[ALIAS]


def _checked(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError("a report file name is a bare name")
    return name


def save(name: str, content: bytes) -> str:
    """Store `content` under `name` (a bare name) and return its sha256. Writing the same name
    again replaces the file (atomically in the folder; S3 replaces objects whole)."""
    stored = _store().save(_checked(name), ContentFile(content))
    if stored != name:
        # The run records `name`: a backend that renames instead of overwriting would lose it.
        raise ImproperlyConfigured(f"the reports storage stored {name!r} as {stored!r}")
    return hashlib.sha256(content).hexdigest()


def open(name: str) -> IO[bytes]:
    """The file, open for reading (FileResponse streams and closes it). `FileNotFoundError`
    when the store has lost it."""
    return _store().open(_checked(name), "rb")


def read(name: str) -> bytes:
    with open(name) as fh:
        content: bytes = fh.read()
    return content


def exists(name: str) -> bool:
    return _store().exists(_checked(name))
