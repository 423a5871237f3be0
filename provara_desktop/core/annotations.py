"""Signed annotations (issue "Reviewing evidence together"; docs/ANNOTATIONS.md): tags,
comments and review marks on an event or a belief, each an extension event
``com.provara.desktop.annotation`` signed by its reviewer. The reducer ignores extension
events (PROTOCOL.md A item 9), so the state hash stays the reference's; what annotations
say is folded here, from the events alone, the same on every replica.

Nothing is edited: a later annotation by the same reviewer withdraws an earlier one (a
withdrawal by anyone else counts for nothing, and is shown as such). Pure: no I/O.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

ANNOTATION_EVENT = "com.provara.desktop.annotation"
TAG, COMMENT, MARK, WITHDRAW = "tag", "comment", "mark", "withdraw"
KINDS = (TAG, COMMENT, MARK, WITHDRAW)
REVIEWED, FOLLOW_UP, DISPUTED = "reviewed", "follow-up", "disputed"
MARKS = (REVIEWED, FOLLOW_UP, DISPUTED)
MAX_COMMENT = 4000  # characters: a finding's note, not a document (attach those)
MAX_TAG = 64


def _no_controls(text: str, what: str) -> None:
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise UsageError(f"{what} contains control characters")


def target_of(event_id: str | None, belief: str | None) -> dict[str, str]:
    if (event_id is None) == (belief is None):
        raise UsageError("name exactly one target: --event EVT or --belief SUBJECT:PREDICATE")
    if event_id is not None:
        return {"event_id": event_id}
    assert belief is not None
    if ":" not in belief or belief.startswith(":") or belief.endswith(":"):
        raise UsageError(f"--belief {belief!r}: expected SUBJECT:PREDICATE")
    return {"belief": belief}


def payload(target: Mapping[str, str], *, tag: str | None = None, comment: str | None = None,
            mark: str | None = None, withdraw: str | None = None,
            annotated_utc: str) -> dict[str, Any]:
    """The payload of one annotation; UsageError naming what is wrong."""
    given = [(k, v) for k, v in ((TAG, tag), (COMMENT, comment), (MARK, mark),
                                 (WITHDRAW, withdraw)) if v is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of --tag, --comment, --mark, --withdraw")
    kind, value = given[0]
    doc: dict[str, Any] = {"target": dict(target), "kind": kind, "annotated_utc": annotated_utc}
    if kind == TAG:
        text = value.strip()
        if not text or len(text) > MAX_TAG or any(c.isspace() for c in text):
            raise UsageError(f"--tag {value!r}: a tag is 1 to {MAX_TAG} characters, no spaces")
        _no_controls(text, "--tag")
        doc["tag"] = text
    elif kind == COMMENT:
        if not value.strip():
            raise UsageError("--comment is empty")
        if len(value) > MAX_COMMENT:
            raise UsageError(f"--comment is {len(value)} characters, over the {MAX_COMMENT} "
                             "allowed (attach a longer text to an observation instead)")
        _no_controls(value, "--comment")
        doc["text"] = value
    elif kind == MARK:
        if value not in MARKS:
            raise UsageError(f"--mark {value!r}: one of {', '.join(MARKS)}")
        doc["mark"] = value
    else:
        doc["withdraws"] = value
    return doc


@dataclass
class Annotation:
    event_id: str
    signer: str | None  # the key that signed it
    actor: str | None
    timestamp_utc: str | None
    target: dict[str, str]
    kind: str
    tag: str | None = None
    text: str | None = None
    mark: str | None = None
    withdraws: str | None = None
    withdrawn_by: str | None = None  # the counting withdrawal of this one, if any
    ignored: str | None = None  # why this annotation counts for nothing

    def target_text(self) -> str:
        return self.target.get("event_id") or self.target.get("belief") or "?"

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "signer": self.signer, "actor": self.actor,
                "timestamp_utc": self.timestamp_utc, "target": self.target,
                "kind": self.kind, "tag": self.tag, "text": self.text, "mark": self.mark,
                "withdraws": self.withdraws, "withdrawn_by": self.withdrawn_by,
                "ignored": self.ignored}


def read(event: Mapping[str, Any]) -> Annotation | None:
    """An annotation event as an Annotation (None: not one, or too malformed to show)."""
    if event.get("type") != ANNOTATION_EVENT:
        return None
    p = event.get("payload")
    if not isinstance(p, dict):
        return None
    target, kind = p.get("target"), p.get("kind")
    if not isinstance(target, dict) or kind not in KINDS or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in target.items()):
        return None

    def text(name: str) -> str | None:
        v = p.get(name)
        return v if isinstance(v, str) else None

    signer, actor, ts = event.get("actor_key_id"), event.get("actor"), event.get("timestamp_utc")
    return Annotation(str(event.get("event_id")), signer if isinstance(signer, str) else None,
                      actor if isinstance(actor, str) else None,
                      ts if isinstance(ts, str) else None, dict(target), str(kind),
                      tag=text("tag"), text=text("text"), mark=text("mark"),
                      withdraws=text("withdraws"))


@dataclass
class Folded:
    """Every annotation of a vault, in log order, with what counts now."""

    all: list[Annotation] = field(default_factory=list)

    @property
    def standing(self) -> list[Annotation]:
        """Tags, comments and marks that count (not withdrawn, not ignored)."""
        return [a for a in self.all if a.kind != WITHDRAW and a.withdrawn_by is None
                and a.ignored is None]

    def on(self, target: Mapping[str, str]) -> list[Annotation]:
        return [a for a in self.all if a.target == dict(target)]

    def tags_of(self, belief: str) -> list[str]:
        return sorted({a.tag for a in self.standing if a.kind == TAG and a.tag
                       and a.target.get("belief") == belief})

    def mark_of(self, belief: str) -> Annotation | None:
        """The belief's review mark: the latest standing mark, whoever made it."""
        marks = [a for a in self.standing if a.kind == MARK
                 and a.target.get("belief") == belief]
        return marks[-1] if marks else None


def fold(annotations: Iterable[Annotation],
         same_person: Callable[[str | None, str | None], bool]) -> Folded:
    """Withdrawals applied: one counts only when its signer is the same person as the
    withdrawn annotation's (``same_person``: key ids, rotations resolved by the caller)."""
    out = Folded(list(annotations))
    by_id = {a.event_id: a for a in out.all}
    for a in out.all:
        if a.kind != WITHDRAW:
            continue
        old = by_id.get(a.withdraws or "")
        if old is None or old.kind == WITHDRAW:
            a.ignored = "withdraws no annotation of this vault"
        elif not same_person(a.signer, old.signer):
            a.ignored = "only its own author may withdraw an annotation"
        elif old.withdrawn_by is None:
            old.withdrawn_by = a.event_id
    return out


def progress(folded: Folded, contested: Iterable[str]) -> dict[str, Any]:
    """Review progress over ``contested`` beliefs: how many carry each mark, and who
    reviewed what ("312 of 480 contested beliefs reviewed, 41 need follow-up")."""
    keys = sorted(set(contested))
    counts = dict.fromkeys(MARKS, 0)
    by_reviewer: dict[str, dict[str, list[str]]] = {}
    for key in keys:
        m = folded.mark_of(key)
        if m is None or m.mark not in counts:
            continue
        counts[m.mark] += 1
        who = m.actor or m.signer or "?"
        by_reviewer.setdefault(who, {}).setdefault(m.mark, []).append(key)
    total = len(keys)
    return {"contested": total, "reviewed": counts[REVIEWED],
            "follow_up": counts[FOLLOW_UP], "disputed": counts[DISPUTED],
            "unmarked": total - sum(counts.values()), "by_reviewer": by_reviewer,
            "text": f"{counts[REVIEWED]} of {total} contested beliefs reviewed, "
                    f"{counts[FOLLOW_UP]} need follow-up"
                    + (f", {counts[DISPUTED]} disputed" if counts[DISPUTED] else "")}
