"""The attachment references an event's payload holds (what bundles carry and a peer sends
along with the events)."""

from __future__ import annotations

import re
from typing import Any

_SHA256 = re.compile(r"[0-9a-f]{64}")


def attachment_refs(ev: dict[str, Any]) -> list[dict[str, Any]]:
    """The well-formed references (a lowercase sha256 each); anything else is ignored."""
    payload = ev.get("payload")
    atts = payload.get("attachments") if isinstance(payload, dict) else None
    if not isinstance(atts, list):
        return []
    return [a for a in atts if isinstance(a, dict) and isinstance(a.get("sha256"), str)
            and _SHA256.fullmatch(a["sha256"])]
