"""Safety rules for the paths the tool reads and writes, and checked file writes.

Two promises live here, shared by every command:

* **An output never destroys an input.** :func:`check_outputs` refuses any output path that
  is, or contains, an input path (a file, a frame folder, a mask folder...), after resolving
  symlinks and ``..``; ``--overwrite`` does not change that. Two outputs at the same place
  are refused too.
* **A write that fails says so.** :func:`write_file` writes through the operating system
  and checks that every byte went out; a full disk is an :class:`~moebius_video.errors.OutputError`
  that says "no space left on device", and the partial file is removed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path

from moebius_video.errors import OutputError

PathLike = str | os.PathLike[str]


def resolved(path: PathLike) -> Path:
    """``path`` made absolute with every symlink and ``..`` resolved (it need not exist)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _contains(outer: Path, inner: Path) -> bool:
    return outer == inner or outer in inner.parents


def _same_file(a: PathLike, b: PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_stdout(path: PathLike) -> bool:
    """Whether ``path`` is ``-`` (standard output in many tools)."""
    return os.fspath(path) == "-"


def _local(path: PathLike) -> str | None:
    """The local path behind ``path`` (``file:`` URLs included); ``None`` for a network URL."""
    text = os.fspath(path)
    if text.startswith("file://"):
        return text[len("file://"):]
    if text.startswith("file:"):
        return text[len("file:"):]
    if "://" in text:
        return None
    return text


def check_outputs(outputs: Mapping[str, PathLike | None], inputs: Mapping[str, PathLike | None]) -> None:
    """Refuse outputs that would replace or sit above an input, or that collide.

    Args:
        outputs: Flag or role (``"-o"``, ``"--save-masks"``...) -> output path; ``None``
            entries are ignored.
        inputs: Flag or role (``"input"``, ``"--mask"``...) -> input path; ``None`` entries
            and network URLs are ignored (``file:`` URLs are local paths).

    Raises:
        OutputError: An output is an input (same file, hard links included), contains one
            (a folder output would replace it), or two outputs are the same path.
    """
    outs = {k: _local(v) for k, v in outputs.items() if v is not None and not is_stdout(v)}
    ins = {k: _local(v) for k, v in inputs.items() if v is not None}
    outs = {k: v for k, v in outs.items() if v is not None}
    ins = {k: v for k, v in ins.items() if v is not None}
    for out_flag, out_path in outs.items():
        out_real = resolved(out_path)
        for in_flag, in_path in ins.items():
            in_real = resolved(in_path)
            if out_real == in_real or _same_file(out_path, in_path):
                raise OutputError(
                    f"{out_flag} {os.fspath(out_path)} is the {in_flag} "
                    f"({os.fspath(in_path)}); refusing to write over an input"
                )
            if _contains(out_real, in_real):
                raise OutputError(
                    f"{out_flag} {os.fspath(out_path)} contains the {in_flag} "
                    f"({os.fspath(in_path)}); refusing to replace a folder that holds an input"
                )
    items = list(outs.items())
    for i, (flag_a, path_a) in enumerate(items):
        for flag_b, path_b in items[i + 1 :]:
            real_a, real_b = resolved(path_a), resolved(path_b)
            if _contains(real_a, real_b) or _contains(real_b, real_a):
                raise OutputError(
                    f"{flag_a} {os.fspath(path_a)} and {flag_b} {os.fspath(path_b)} overlap; "
                    "give each output its own place"
                )


def describe_os_error(error: BaseException) -> str:
    """A short reason for a failed write (an ``OSError`` or PyAV's ``FFmpegError``); a full
    disk always reads "no space left on device"."""
    if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on device"
    text = str(error)
    if "requested and" in text and "written" in text:  # numpy's short-write message
        return "no space left on device (short write)"
    return getattr(error, "strerror", None) or text


def write_file(path: PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to a new file at ``path``, checking that every byte reached the disk.

    The bytes go out through ``os.write`` (short writes are continued); a write error or a
    final size that differs removes the partial file and raises.

    Raises:
        OutputError: The file cannot be created or written (a full disk says
            "no space left on device").
    """
    view = memoryview(data).cast("B")
    try:
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as error:
        raise OutputError(f"cannot write {os.fspath(path)}: {describe_os_error(error)}") from error
    try:
        try:
            done = 0
            while done < len(view):
                written = os.write(fd, view[done:])
                if written <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += written
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size != len(view):
            raise OSError(errno.EIO, f"{size} of {len(view)} bytes on disk")
    except OSError as error:
        try:
            os.unlink(os.fspath(path))
        except OSError:
            pass
        raise OutputError(f"cannot write {os.fspath(path)}: {describe_os_error(error)}") from error


__all__ = ["check_outputs", "describe_os_error", "is_stdout", "resolved", "write_file"]
