"""Reading a batch's job list: a CSV or JSONL manifest, or a folder of videos with masks.

A manifest row is kept as raw ``column -> value`` pairs plus where it came from; turning a
row into a job (the same flags and checks as ``remove``) is the command line's business
(:mod:`moebius_video.cli.batch`). Nothing here touches a video.

Folder mode: every video in the folder (not its subfolders) is a job, with its mask beside
it, named after the video's stem::

    clip.mp4 + clip.mask.png        first-frame mask (any image format), tracked
    clip.mp4 + clip.box.txt         "x,y,w,h" on the first frame, tracked
    clip.mp4 + clip.keyframes/      masks on a few frames (00014.png ...)
    clip.mp4 + clip.masks/          one mask per frame
    clip.mp4 + clip.mask.mp4        a mask video (any video format)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from moebius_video.errors import InvalidArgumentError
from moebius_video.io.reader import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

#: Manifest file suffixes, by format.
CSV_SUFFIXES = frozenset({".csv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})

#: Columns that say what to remove; a row gives exactly one.
MASK_COLUMNS = ("mask", "box", "keyframes", "masks", "mask_video")


class ManifestError(InvalidArgumentError):
    """A manifest (or a folder of videos) cannot be turned into jobs; names the row(s)."""


@dataclass(frozen=True)
class ManifestRow:
    """One job as written in the manifest.

    Attributes:
        where: Where the row is, for messages (``jobs.csv line 4``, ``clips/a.mp4``).
        fields: Column name (lower case, ``-`` read as ``_``) to value: a string, or what
            JSON gave (number, bool, list). Empty cells are left out.
        base: The folder that relative paths in the row are relative to (the manifest's).
    """

    where: str
    fields: dict[str, object] = field(default_factory=dict)
    base: Path = Path(".")


def column_name(text: str) -> str:
    """The canonical form of a column name: stripped, lower case, ``-`` as ``_``."""
    return text.strip().lower().replace("-", "_")


def read_jobs(path: str | Path) -> list[ManifestRow]:
    """Read a manifest (``.csv``, ``.jsonl``) or scan a folder of videos.

    Raises:
        ManifestError: Unreadable or malformed manifest, no job at all, a video of the
            folder without a mask beside it (every problem is listed, one per line).
    """
    path = Path(path)
    if path.is_dir():
        return read_folder(path)
    if not path.exists():
        raise ManifestError(f"jobs {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        rows = read_csv(path)
    elif suffix in JSONL_SUFFIXES:
        rows = read_jsonl(path)
    else:
        raise ManifestError(
            f"jobs {path}: expected a .csv or .jsonl manifest or a folder of videos, "
            f"got a {suffix or 'suffix-less'} file"
        )
    if not rows:
        raise ManifestError(f"jobs {path}: no job in it")
    return rows


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a BOM from spreadsheet exports is fine
    except UnicodeDecodeError as error:
        raise ManifestError(f"jobs {path}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ManifestError(f"jobs {path}: cannot be read ({error.strerror})") from None


def read_csv(path: Path) -> list[ManifestRow]:
    """Rows of a CSV manifest whose first line names the columns.

    Raises:
        ManifestError: No header, an empty or repeated column name, a row with more cells
            than the header.
    """
    text = _read_text(path)
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError(f"jobs {path}: empty file (the first line names the columns)") from None
    except csv.Error as error:
        raise ManifestError(f"jobs {path} line 1: {error}") from None
    names = [column_name(h) for h in header]
    for i, name in enumerate(names):
        if not name:
            raise ManifestError(f"jobs {path} line 1: column {i + 1} has no name")
        if name in names[:i]:
            raise ManifestError(f"jobs {path} line 1: column {name!r} appears twice")
    rows = []
    base = path.resolve().parent
    try:
        for cells in reader:
            where = f"{path.name} line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue  # blank line
            if len(cells) > len(names):
                raise ManifestError(
                    f"{where}: {len(cells)} cells for {len(names)} columns (quote values that "
                    "contain commas)"
                )
            fields = {n: c.strip() for n, c in zip(names, cells) if c.strip()}
            rows.append(ManifestRow(where=where, fields=fields, base=base))
    except csv.Error as error:
        raise ManifestError(f"{path.name} line {reader.line_num}: {error}") from None
    return rows


def read_jsonl(path: Path) -> list[ManifestRow]:
    """Rows of a JSON Lines manifest: one JSON object per line; blank lines are skipped.

    Raises:
        ManifestError: A line that is not a JSON object, or repeats a column.
    """
    rows = []
    base = path.resolve().parent
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise ManifestError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(obj, dict):
            raise ManifestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        fields: dict[str, object] = {}
        for key, value in obj.items():
            name = column_name(str(key))
            if name in fields:
                raise ManifestError(f"{where}: column {name!r} appears twice")
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            fields[name] = value.strip() if isinstance(value, str) else value
        rows.append(ManifestRow(where=where, fields=fields, base=base))
    return rows


def _is_mask_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and path.stem.endswith(".mask")


def read_folder(folder: Path) -> list[ManifestRow]:
    """One row per video in ``folder``, its mask found beside it (see the module's doc).

    Raises:
        ManifestError: No video in the folder, or videos without exactly one mask beside
            them (all of them are named).
    """
    folder = Path(folder)
    base = folder.resolve()
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise ManifestError(f"jobs {folder}: cannot be listed ({error.strerror})") from None
    by_name = {p.name: p for p in entries}
    rows, problems = [], []
    for path in entries:
        if not path.is_file() or path.suffix.lower() not in VIDEO_EXTENSIONS or _is_mask_video(path):
            continue
        stem = path.stem
        found: list[tuple[str, object]] = []
        for name, entry in by_name.items():
            if not name.startswith(f"{stem}."):
                continue
            rest = name[len(stem) + 1 :]
            kind = rest.partition(".")[0]
            tail = Path(rest).suffix.lower()
            if rest == "box.txt" and entry.is_file():
                try:
                    found.append(("box", entry.read_text(encoding="utf-8").strip()))
                except (OSError, UnicodeDecodeError) as error:
                    problems.append(f"{entry}: cannot be read ({error})")
                    found.append(("box", None))
            elif kind == "mask" and entry.is_file() and rest.count(".") == 1:
                if tail in IMAGE_EXTENSIONS:
                    found.append(("mask", name))
                elif tail in VIDEO_EXTENSIONS:
                    found.append(("mask_video", name))
            elif rest in ("keyframes", "masks") and entry.is_dir():
                found.append((rest, name))
        if not found:
            problems.append(
                f"{path.name}: no mask beside it ({stem}.mask.png, {stem}.box.txt, "
                f"{stem}.keyframes/, {stem}.masks/ or {stem}.mask.mp4)"
            )
        elif len(found) > 1:
            kinds = ", ".join(sorted(k for k, _ in found))
            problems.append(f"{path.name}: more than one mask beside it ({kinds}); keep one")
        elif found[0][1] is not None:
            kind, value = found[0]
            rows.append(ManifestRow(where=f"{folder.name}/{path.name}",
                                    fields={"input": path.name, kind: value}, base=base))
    if problems:
        raise ManifestError(f"jobs folder {folder}: " + "; ".join(problems))
    if not rows:
        raise ManifestError(
            f"jobs folder {folder}: no video in it ({', '.join(sorted(VIDEO_EXTENSIONS))})"
        )
    return rows


__all__ = [
    "CSV_SUFFIXES",
    "JSONL_SUFFIXES",
    "MASK_COLUMNS",
    "ManifestError",
    "ManifestRow",
    "column_name",
    "read_csv",
    "read_folder",
    "read_jobs",
    "read_jsonl",
]
