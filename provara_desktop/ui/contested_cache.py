"""The contested workbench's list of contested beliefs, kept between refreshes: after one
new event at most one belief's contest moves, so a refresh recomputes one summary, not all
(store.belief_standing computes each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.store.belief_standing import ContestedSummary, contested_summary

if TYPE_CHECKING:
    from provara_desktop.core.reducer import Reducer
    from provara_desktop.store.vault import Vault


class ContestedCache:
    """Summaries of contested beliefs, recomputed only for entries that changed: after one
    new event at most one belief's contest moves, so a refresh costs one entry, not all."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[tuple[Any, ...], ContestedSummary]] = {}
        self._forked: frozenset[str] = frozenset()

    def summaries(self, reducer: Reducer, vault: Vault,
                  forked: frozenset[str] | set[str] = frozenset()) -> list[ContestedSummary]:
        forked = frozenset(forked)
        if forked != self._forked:
            self._by_key.clear()  # involves_fork may change for any entry
            self._forked = forked
        out = []
        fresh: dict[str, tuple[tuple[Any, ...], ContestedSummary]] = {}
        for key in reducer.contested_keys:
            stamp = reducer.contest_stamp(key)
            known = self._by_key.get(key)
            if stamp is not None and known is not None and known[0] == stamp:
                summary = known[1]
            else:
                fresh_summary = contested_summary(reducer, vault, key, forked)
                if fresh_summary is None:
                    continue
                summary = fresh_summary
            if stamp is not None:
                fresh[key] = (stamp, summary)
            out.append(summary)
        self._by_key = fresh
        return out


def contested_summaries(reducer: Reducer, vault: Vault,
                        forked: frozenset[str] | set[str] = frozenset()
                        ) -> list[ContestedSummary]:
    return ContestedCache().summaries(reducer, vault, forked)
