"""What the beliefs table shows, without Qt: the cells of a row (read from the reducer or
from the kept rows while the state loads), the text a search looks in, the order a column
sorts by, the filtered and sorted list (``arrange``, run on the session's query thread) and
the row insertions and removals between two snapshots (``diff_rows``). The Qt model
(beliefs_model.py) only adapts these; tests and the session use them without a display.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_dumps
from provara_desktop.core.reducer import NAMESPACES
from provara_desktop.runtime.piecewise_sort import sorted_gently

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.core.reducer import Reducer
    from provara_desktop.core.reducer_state import KeptTable
    from provara_desktop.session import BeliefRow

    # What rows are read from: the reducer, or the kept rows while the state loads.
    Beliefs = Reducer | KeptTable


class Column(IntEnum):
    NAMESPACE = 0
    KEY = 1
    VALUE = 2
    DETAIL = 3
    PROVENANCE = 4
    TAGS = 5  # annotations: tags and the review mark (the view supplies them)


def value_text(value: Any) -> str:
    """Strings as they are; anything else as canonical JSON (numbers, objects)."""
    return value if isinstance(value, str) else canonical_dumps(value)


# Rows are sorted by namespace (in protocol order), then key: this is their sort key.
_NS_ORDER = {ns: i for i, ns in enumerate(NAMESPACES)}
MAX_DIFF_OPS = 400  # beyond this many separate changes a reset is cheaper
# (at, removed, inserted): remove ``removed`` rows at ``at``, or insert ``inserted`` there.
RowOp = tuple[int, int, list["BeliefRow"]]


def diff_rows(old: list[BeliefRow], new: list[BeliefRow]) -> list[RowOp] | None:
    """The insertions and removals that turn ``old`` into ``new`` (both sorted as
    belief_rows sorts them), with positions valid when applied in order; None when a
    reset is cheaper. Pure Python, meant for a worker thread."""
    ops: list[RowOp] = []
    i = j = pos = 0
    n_old, n_new = len(old), len(new)

    def key(r: BeliefRow) -> tuple[int, str]:
        return _NS_ORDER.get(r[0], 99), r[1]

    while i < n_old or j < n_new:
        if i < n_old and j < n_new and old[i] == new[j]:
            i, j, pos = i + 1, j + 1, pos + 1
            continue
        if j >= n_new or (i < n_old and key(old[i]) < key(new[j])):
            last = ops[-1] if ops else None
            if last is not None and last[0] == pos and last[1] and not last[2]:
                ops[-1] = (pos, last[1] + 1, [])
            else:
                ops.append((pos, 1, []))
            i += 1
        else:
            last = ops[-1] if ops else None
            if last is not None and not last[1] and last[0] + len(last[2]) == pos:
                last[2].append(new[j])
            else:
                ops.append((pos, 0, [new[j]]))
            j, pos = j + 1, pos + 1
        if len(ops) > MAX_DIFF_OPS:
            return None
    return ops


def _value(reducer: Beliefs, ns: str, key: str) -> str | None:
    """Just the value text of a row (what search looks at); None for contested rows, whose
    competing values belong to the contested workbench and cost O(evidence) to list."""
    if ns == "canonical" or ns == "local":
        entry = (reducer.canonical if ns == "canonical" else reducer.local).get(key)
        return value_text(entry.get("value")) if entry is not None else None
    if ns == "archived":
        archived = reducer.archived.get(key)
        return value_text(archived[-1].get("value")) if archived else None
    return None


def _cells(reducer: Beliefs, ns: str, key: str) -> tuple[str, str, str | None] | None:
    """(value, details, provenance event id) of one row, or None if the entry is gone."""
    if ns == "canonical":
        c = reducer.canonical.get(key)
        if c is None:
            return None
        return (value_text(c.get("value")), f"attested by {c.get('attested_by')}",
                c.get("attestation_event_id") or c.get("provenance"))
    if ns == "local":
        loc = reducer.local.get(key)
        if loc is None:
            return None
        return (value_text(loc.get("value")),
                f"confidence {loc.get('confidence')} · {loc.get('actor')} · "
                f"{loc.get('evidence_count')} evidence", loc.get("provenance"))
    if ns == "contested":
        summary = reducer.contested_values(key)
        if summary is None:
            return None
        reason, evidence_count, values = summary
        shown = " | ".join(v if len(v) < 40 else v[:39] + "…" for v in values[:4])
        more = f" (+{len(values) - 4})" if len(values) > 4 else ""
        return (f"{len(values)} values: {shown}{more}",
                f"{reason.replace('_', ' ')} · {evidence_count} evidence", None)
    archived = reducer.archived.get(key)
    if not archived:
        return None
    last = archived[-1]
    what = "retracted" if last.get("retracted") else "superseded"
    return (value_text(last.get("value")),
            f"{what} by {last.get('superseded_by')} · {len(archived)} archived",
            last.get("attestation_event_id"))


# (column, descending) the rows are sorted by; None: namespace then key (the snapshot order).
SortSpec = tuple[int, bool] | None


def haystack(reducer: Beliefs | None, row: BeliefRow) -> str:
    """Key and value of a row, casefolded: the text search looks in (contested rows are
    found by key; their competing values are searched in the contested tab)."""
    value = _value(reducer, *row) if reducer is not None else None
    return (row[1] + "\n" + (value or "")).casefold()


def _sort_key(reducer: Beliefs | None, column: int) -> Callable[[BeliefRow], Any]:
    if column == Column.NAMESPACE:
        return lambda r: (_NS_ORDER.get(r[0], 99), r[1])
    if column == Column.KEY:
        return lambda r: r[1].casefold()
    if column == Column.VALUE:
        return lambda r: ((_value(reducer, *r) or "").casefold() if reducer is not None
                          else "")

    def by_cell(r: BeliefRow) -> str:
        cells = _cells(reducer, *r) if reducer is not None else None
        return (cells[1] if column == Column.DETAIL else cells[2] or "") if cells else ""
    return by_cell


def arrange(rows: list[BeliefRow], reducer: Beliefs | None, *, namespace: str | None,
            needle: str, sort: SortSpec, haystacks: dict[BeliefRow, str]) -> list[BeliefRow]:
    """The rows the table shows: ``rows`` (a snapshot in namespace, key order) filtered by
    namespace and by ``needle`` (casefolded) in key or value, then sorted. Pure Python for
    the query thread; the reducer must not change meanwhile (the caller holds the
    session's reducer lock). ``haystacks`` caches the search text per row across calls."""
    if namespace is not None:
        rows = [r for r in rows if r[0] == namespace]
    if needle:
        out = []
        for r in rows:
            text = haystacks.get(r)
            if text is None:
                text = haystacks[r] = haystack(reducer, r)
            if needle in text:
                out.append(r)
        rows = out
    if sort is not None:
        column, descending = sort
        rows = sorted_gently(rows, key=_sort_key(reducer, column), reverse=descending)
    return rows
