"""Tables as CSV, the way investigators move findings into other tools (issue "Reviewing
evidence together", item 5): exactly the rows a view shows, its filter applied, written
atomically (a temporary file beside the target, then a rename) as UTF-8 with a byte-order
mark, which spreadsheet programs need to read accents right."""

from __future__ import annotations

import csv
import io
import os
import re
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from pathlib import Path

    from provara_desktop.store.index import EventIndex

TIMELINE_HEADER = ("Claimed time", "First seen here", "Type", "Actor", "Subject",
                   "Predicate", "Event id", "Signing key", "Namespace")
_PAGE = 10_000


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula (=, @, or + and - before anything but a
    # plain number) is kept as text with a leading apostrophe: an event's subject is
    # anyone's input, and CSV injection is how such input attacks whoever opens the file.
    first = text[:1]
    if first in ("=", "@", "\t", "\r") or (first in ("+", "-") and not _NUMBER.fullmatch(text)):
        return "'" + text
    return text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write the table; returns the number of rows. Nothing is left behind on failure."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8-sig", newline="") as f:
            out = csv.writer(f)
            out.writerow(header)
            for row in rows:
                out.writerow([_cell(v) for v in row])
                n += 1
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot write the CSV ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def timeline_rows(index: EventIndex, query: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Every event the timeline's filter matches, in log order, a page of positions at a
    time (the filtered table holds positions, never rows: the same query here)."""
    after = -1
    while True:
        positions = index.positions(after_pos=after, limit=_PAGE, **query)
        if not positions:
            return
        for pos in positions:
            r = index.row_at(pos)
            if r is not None:
                yield (r.timestamp_utc, r.first_seen_utc, r.type, r.actor, r.subject,
                       r.predicate, r.event_id, r.actor_key_id, r.namespace)
        after = positions[-1]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The same table as a string (for tests and the clipboard)."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(header)
    for row in rows:
        out.writerow([_cell(v) for v in row])
    return buf.getvalue()
