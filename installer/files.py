"""Every file the user names is read here, and every file the installer writes is written here.

Reading: regular files only (never a device, FIFO or socket: `/dev/zero` would never end), at most a
size cap, with a message naming the setting. Writing: into a temporary file created with O_EXCL and
O_NOFOLLOW, then renamed over the target, so a symbolic link planted at the target is never followed;
a target that is a link, a directory, or one of the files this run read (a preset, a password file)
is refused before anything is written.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from installer.errors import InstallerError

DEFAULT_LIMIT = 1024 * 1024
_inputs: set[tuple[int, int]] = set()  # (device, inode) of every user-named file read by this process


class FileProblem(InstallerError):
    """A file the user named cannot be used; `setting` is the preset key or flag that named it."""

    def __init__(self, setting: str, message: str, hint: str) -> None:
        super().__init__(f"{setting}: {message}" if setting else message, hint)
        self.setting = setting
        self.reason = message


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_user_file(
    path: str | os.PathLike[str], setting: str, what: str = "file", limit: int = DEFAULT_LIMIT, remember: bool = True
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or FileProblem saying what is wrong.

    Args:
        path: the file as the user wrote it (`~` is expanded; symbolic links to regular files are fine).
        setting: the preset key or command line flag that named the file, for the message.
        what: what the file should hold ("PEM certificate", "preset"), for the message.
        limit: the largest size accepted.
        remember: record the file as an input of this run, so no writer overwrites it.
    """
    shown = str(path)
    p = Path(path).expanduser()
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; we refuse it right after fstat
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileProblem(setting, f"{what} {shown} does not exist", "check the path") from None
    except IsADirectoryError:
        raise FileProblem(
            setting, f"{shown} is a directory, not a {what}", "give the path of the file itself"
        ) from None
    except OSError as exc:
        raise FileProblem(
            setting, f"cannot read {what} {shown}: {exc.strerror or exc}", "check the path and its permissions"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(
                setting, f"{shown} is {_kind(info.st_mode)}, not a {what}", f"give the path of a regular {what}"
            )
        if info.st_size > limit:
            raise FileProblem(
                setting,
                f"{shown} is {info.st_size} bytes; a {what} is at most {_size(limit)}",
                f"check that {shown} is the right {what}",
            )
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(65536, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while we read it
                raise FileProblem(
                    setting,
                    f"{shown} is larger than {_size(limit)}; not a {what}",
                    f"check that {shown} is the right {what}",
                )
        if remember:
            _inputs.add((info.st_dev, info.st_ino))
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(setting, f"cannot read {what} {shown}: {exc.strerror or exc}", "check the file") from None
    finally:
        os.close(fd)


def read_user_text(
    path: str | os.PathLike[str], setting: str, what: str = "file", limit: int = DEFAULT_LIMIT, remember: bool = True
) -> str:
    """`read_user_file` decoded as UTF-8 text without NUL bytes."""
    data = read_user_file(path, setting, what, limit, remember)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(
            setting, f"{path} is not UTF-8 text (bad byte on line {line})", f"save the {what} as UTF-8 text"
        ) from None
    if "\x00" in text:
        raise FileProblem(
            setting,
            f"{path} holds a NUL byte (line {text[: text.index(chr(0))].count(chr(10)) + 1}); not a {what}",
            f"give a text {what}",
        )
    return text


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def forget_inputs() -> None:
    """Start a new run: no file counts as an input yet (one process may run several commands, e.g. tests)."""
    _inputs.clear()


def check_target(path: Path, setting: str) -> None:
    """Refuse to write `path` when it is a link, a directory or special file, or a file this run read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise FileProblem(
            setting,
            f"{path} is a symbolic link; the installer never writes through a link",
            f"remove the link ({path}) or choose another folder",
        )
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(setting, f"{path} is {_kind(info.st_mode)}; cannot write a file there", "choose another path")
    if (info.st_dev, info.st_ino) in _inputs:
        raise FileProblem(
            setting,
            f"{path} is one of this run's input files; writing it would destroy the input",
            "write the output somewhere else (another --out folder)",
        )


def prepare_dir(directory: str | os.PathLike[str], setting: str) -> Path:
    """Make the output folder (and its parents); a file in its place is a clear error."""
    out = Path(directory).expanduser()
    if out.exists() and not out.is_dir():
        raise FileProblem(
            setting, f"{out} is a file, not a folder", "give a folder for the output (it is made when missing)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise FileProblem(
            setting, f"cannot make the folder {out}: part of the path is a file", "give a folder path"
        ) from None
    except OSError as exc:
        raise FileProblem(
            setting, f"cannot make the folder {out}: {exc.strerror}", "check the path and its permissions"
        ) from None
    return out


def write_files(files: Sequence[tuple[Path, str | bytes, int]], setting: str) -> list[Path]:
    """Write each (path, content, mode); every target is checked before the first is written."""
    for path, _, _ in files:
        check_target(Path(path), setting)
    return [_write_one(Path(path), content, mode, setting) for path, content, mode in files]


def write_file(path: str | os.PathLike[str], content: str | bytes, mode: int = 0o644, setting: str = "") -> Path:
    """Write one file safely (see the module docstring); secret files use mode 0o600."""
    path = Path(path).expanduser()
    if path.parent != path and not path.parent.is_dir():
        raise FileProblem(setting, f"the folder {path.parent} does not exist", "create it first or choose another path")
    check_target(path, setting)
    return _write_one(path, content, mode, setting)


def _write_one(path: Path, content: str | bytes, mode: int, setting: str) -> Path:
    data = content.encode("utf-8") if isinstance(content, str) else content
    # secrets.token_hex(6) is this; the secrets module would load hmac and OpenSSL's hashlib for it (start-up)
    temp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(temp, flags, mode)
    except OSError as exc:
        raise FileProblem(setting, f"cannot write {path}: {exc.strerror}", "check the folder's permissions") from None
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink(temp)
        raise FileProblem(
            setting, f"cannot write {path}: {exc.strerror}", "check the free space and permissions"
        ) from None
    os.close(fd)
    try:
        check_target(path, setting)  # still not a link or an input (it may have appeared meanwhile)
        os.replace(temp, path)  # replaces a directory entry: never follows a link at `path`
    except BaseException:
        _unlink(temp)
        raise
    return path


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
