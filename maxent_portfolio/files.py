"""Atomic writes: a file or a directory appears complete or not at all; and YAML read as text.

Every writer in the package goes through these two helpers, so an interrupted run, a full disk
or a crash never leaves a partial file behind. Every YAML file (universes, run configs) is read
by :func:`read_yaml`, which leaves dates as the text they are.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maxent_portfolio.errors import ConfigError


@functools.cache
def _text_dates_loader() -> type:
    import yaml

    class TextDates(yaml.SafeLoader):
        """``yaml.SafeLoader`` without its timestamp resolver."""

    TextDates.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return TextDates


def read_yaml(text: str) -> Any:
    """``yaml.safe_load`` with dates left as text: ``start: 2016-13-01`` is the string a date
    option's own check refuses in one line (the safe loader would raise a bare ValueError),
    and ``start: 2016-01-01`` the string a string option expects."""
    import yaml

    return yaml.load(text, Loader=_text_dates_loader())  # a SafeLoader: plain data only


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it onto ``final`` only on success.

    Whatever the body writes to the yielded path (with any library: ``to_csv``,
    ``torch.save``, ``write_text``) replaces ``final`` in one ``os.replace``. On any exception,
    Ctrl-C included, the temporary file is removed and ``final`` is left as it was.
    """
    target = Path(final)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)  # mkstemp creates 0600; reports and caches are meant to be read
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def check_writable_dir(path: Path, what: str = "run directory") -> None:
    """Refuse, before any work, an output ``path`` that exists or cannot be created.

    The nearest existing ancestor must be a directory in which a file can be created (tried
    for real: permission bits say nothing about ``/proc`` or a read-only mount).
    """
    if path.exists():
        raise ConfigError(f"{what} {path} already exists; choose another --out")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {what} {path}: {parent} is not a directory")
    check_can_write(parent, what, path)


def check_can_write(folder: Path, what: str, path: Path | None = None) -> None:
    """Refuse, before any work, a directory in which no file can be created (tried for real:
    permission bits say nothing about ``/proc``, a read-only mount or root)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path or folder}: no file can be created in "
                          f"{folder} ({exc.strerror or type(exc).__name__})") from None
    os.close(fd)
    os.unlink(probe)


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; rename it to ``final`` only on success.

    Raises
    ------
    ConfigError
        If ``final`` already exists (a run directory is never overwritten).
    """
    if final.exists():
        raise ConfigError(f"run directory {final} already exists; choose another --out")
    created = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:  # an interrupted first run leaves no empty reports/ behind
            with contextlib.suppress(OSError):
                final.parent.rmdir()
        raise


__all__ = ["atomic_directory", "atomic_path", "check_can_write", "check_writable_dir",
           "read_yaml", "write_bytes", "write_text"]
