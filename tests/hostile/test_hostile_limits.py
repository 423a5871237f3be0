"""The error limit of verification (core.verify.LogAssembler via store.parallel_verify): a
batch of foreign events is verified up to FOREIGN_MAX_ERRORS errors and no further, whether
the errors are found line by line (a forged id) or only once a signature is checked (events
whose ids are right and whose signatures are not), on threads as in worker processes. The
lines after the stop are never taken from the source."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.event import build_event
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.verify import FOREIGN_MAX_ERRORS, VerificationStopped
from provara_desktop.store.parallel_verify import verify_lines

if TYPE_CHECKING:
    from collections.abc import Iterator


def _events(n: int, *, bad_sig: bool) -> tuple[list[bytes], KeyRing]:
    key = SigningKey.generate()
    lines, prev = [], None
    for i in range(n):
        ev = build_event(event_type="OBSERVATION", actor="mallory", prev_event_hash=prev,
                         payload={"subject": "s", "predicate": "p", "value": i}, key=key,
                         timestamp_utc=f"2026-01-01T00:00:{i % 60:02d}.{i:06d}+00:00")
        prev = ev["event_id"]
        if bad_sig:  # a signature of the right shape that does not verify
            ev["sig"] = base64.b64encode(bytes(64)).decode()
        lines.append(canonical_bytes(ev))
    ring = KeyRing.from_keys_json({"keys": [{"key_id": key.key_id, "public_key_b64":
                                             key.public.b64, "status": "active",
                                             "roles": ["root"]}]})
    return lines, ring


@pytest.fixture(scope="module")
def forged() -> tuple[list[bytes], KeyRing]:
    # More lines than the process runner keeps in flight (8 chunks of 2,048 lines).
    return _events(30_000, bad_sig=True)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_bad_signatures_stop_the_reading(processes: bool,
                                         forged: tuple[list[bytes], KeyRing]) -> None:
    lines, ring = forged
    taken = 0

    def source() -> Iterator[tuple[int, bytes]]:
        nonlocal taken
        for i, raw in enumerate(lines, start=1):
            taken = i
            yield i, raw

    with pytest.raises(VerificationStopped) as caught:
        verify_lines(source(), ring, path="events.ndjson", processes=processes,
                     max_errors=FOREIGN_MAX_ERRORS)
    report = caught.value.report
    assert report.problems[-1].code == "VERIFICATION_STOPPED"
    # Failed signatures are known a batch at a time (512 lines), so the count can pass the
    # limit by up to a batch; what is in flight then was read, nothing more.
    stopped_after = int(str(caught.value).split("stopped after ")[1].split()[0])
    assert FOREIGN_MAX_ERRORS <= stopped_after <= FOREIGN_MAX_ERRORS + 2048
    assert taken <= 20_000, taken


def test_without_a_limit_everything_is_verified() -> None:
    lines, ring = _events(300, bad_sig=True)
    report = verify_lines(enumerate(lines, start=1), ring, path="events.ndjson",
                          processes=False)
    assert sum(p.code == "BAD_SIGNATURE" for p in report.problems) == 300


def test_good_events_are_not_limited() -> None:
    lines, ring = _events(300, bad_sig=False)
    report = verify_lines(enumerate(lines, start=1), ring, path="events.ndjson",
                          processes=False, max_errors=FOREIGN_MAX_ERRORS)
    assert report.ok, report.problems[:3]
    assert report.event_count == 300
