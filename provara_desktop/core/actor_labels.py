"""Our actor labels carry their key: the rule that says which key a label belongs to.

``actor_label_for`` (store/identity.py) makes labels of the form ``<name>-<8 hex>``, the 8
hex digits being the first ones of the key id (``bp1_<16 hex>``). Such a label belongs to
the key whose id starts with those digits and to the keys promoted to replace it (a
rotation), whichever key signed under it first: a key whose id does not match squats it.
A label without our suffix (the reference writes "field-agent") says nothing about its key;
it is bound by its first signer, as the reference does.

The same rule serves the intake (intake/labels.py, which decides which promotions count
with the user's trust) and verification (core/verify.py, which counts only promotions
signed by the replaced key: it knows no trust). Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_OUR_LABEL = re.compile(r".+-([0-9a-f]{8})")
_KEY_ID = re.compile(r"bp1_([0-9a-f]{16})")


def label_key_prefix(label: str) -> str | None:
    """The 8 hex digits a label of our form carries (None: a label without our suffix)."""
    m = _OUR_LABEL.fullmatch(label)
    return m.group(1) if m else None


def key_prefix(key_id: str) -> str | None:
    """The first 8 hex digits of a protocol key id (None: not a protocol key id)."""
    m = _KEY_ID.fullmatch(key_id)
    return m.group(1)[:8] if m else None


def promoted_successors(key_id: str, promotions: Mapping[str, set[str]]) -> set[str]:
    """``key_id`` and every key promoted to replace it, transitively (``promotions``: old
    key id -> the new key ids that replace it)."""
    seen = {key_id}
    todo = [key_id]
    while todo:
        for new in promotions.get(todo.pop(), ()):
            if new not in seen:
                seen.add(new)
                todo.append(new)
    return seen


def predecessors(key_id: str, promotions: Mapping[str, set[str]]) -> set[str]:
    """``key_id`` and every key it was promoted to replace, transitively."""
    back: dict[str, set[str]] = {}
    for old, news in promotions.items():
        for new in news:
            back.setdefault(new, set()).add(old)
    return promoted_successors(key_id, back)


def squats(label: str, key_id: str, promotions: Mapping[str, set[str]]) -> bool:
    """Whether ``key_id`` signing under ``label`` squats it: the label carries a key id's
    digits and neither this key nor any key it was promoted to replace starts with them.
    Never for a label without our suffix (first binding decides those)."""
    prefix = label_key_prefix(label)
    if prefix is None or key_prefix(key_id) == prefix:
        return False
    return not any(key_prefix(k) == prefix for k in predecessors(key_id, promotions))
