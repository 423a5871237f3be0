"""Fuzzing the import of a bundle: whatever the bytes, importing a damaged bundle into a
vault either

- is refused with one of our own errors (a VaultError: one clear line naming the file), and
  the receiving vault is byte-for-byte what it was, or
- imports exactly the events that were exported (same event ids, same canonical bytes) and,
  for a signed bundle, with exactly the manifest its signer signed.

Anything else fails: another exception type (an IndexError, zlib.error, RecursionError... is
a traceback for the user), a refusal that touched the vault, or a damaged bundle that slipped
through with changed, missing or extra events. Each input goes through the whole import
(load, check against the vault, plan, atomic commit) into a fresh copy of one receiving vault
that already holds events of its own, with the sender trusted, so a bundle that passes every
check is really written.

Under CI the examples are derandomized (the same inputs every run, as tests/hostile's fuzz);
elsewhere each run explores other inputs, and a failure prints the seed that replays it
(``--hypothesis-seed=N``) and is kept in .hypothesis/ for the next run.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from provara_desktop.bundle import format as fmt
from provara_desktop.bundle.actions import import_bundle
from provara_desktop.bundle.export import export_bundle, export_delta_v1
from provara_desktop.bundle.load import load
from provara_desktop.bundle.selection import Selection
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import ProvaraDesktopError, VaultError
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.trust_view import Trust
from provara_desktop.store.evidence import observe
from provara_desktop.store.vault import Vault
from tests.bundle.conftest import read_members, tree_digest, write_bundle
from tests.conftest import in_ci

if TYPE_CHECKING:
    from collections.abc import Iterator

FUZZ = settings(max_examples=60, deadline=None, derandomize=in_ci(),
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Sent:
    """What the sender exported, and the vault that receives the damaged copies."""

    base: Path
    bundle: bytes  # the .provara-bundle as exported
    delta: bytes  # the same events as a provara_delta_v1 file
    lines: dict[str, bytes]  # event_id -> canonical line, as exported
    manifest: dict[str, Any]  # the manifest the sender signed
    trust: Trust
    receiver: Path  # a pristine receiving vault, copied for every example
    receiver_key: SigningKey

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # Hypothesis prints every argument of a failing example: not kilobytes of bundle.
        p.text(f"Sent(base={str(self.base)!r})")


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    base = tmp_path_factory.mktemp("fuzz")
    key, receiver_key = SigningKey.generate(), SigningKey.generate()
    att = base / "a.txt"
    att.write_bytes(b"attachment " * 30)
    with Vault.init(base / "v", key=key, actor="fuzzer", home=base / "home") as vault:
        observe(vault, key, "fuzzer", subject="s", predicate="p", value=1,
                attachments=[att])
        export_bundle(vault, base / "good.provara-bundle", key=key, actor="fuzzer",
                      selection=Selection())
        export_delta_v1(vault, base / "good.delta", selection=Selection())
    lines = _log_lines(base / "v")
    with Vault.init(base / "r", key=receiver_key, actor="receiver",
                    home=base / "rhome") as receiving:
        observe(receiving, receiver_key, "receiver", subject="x", predicate="y", value=2)
    members = read_members(base / "good.provara-bundle")
    trust = Trust(store={key.key_id: "fuzzer"}, own_key_id=receiver_key.key_id)
    return Sent(base, (base / "good.provara-bundle").read_bytes(),
                (base / "good.delta").read_bytes(), lines,
                json.loads(members[fmt.MANIFEST]), trust, base / "r", receiver_key)


def _log_lines(vault: Path) -> dict[str, bytes]:
    raw = (vault / "events" / "events.ndjson").read_bytes().splitlines()
    return {json.loads(line)["event_id"]: line for line in raw}


@dataclass
class Attempt:
    path: Path  # the damaged file
    root: Path  # the receiving vault's copy
    before: dict[str, str]  # every file of that vault with its sha256, before the import
    plan: Any = None  # the import plan, when the import went through
    manifest: dict[str, Any] | None = None  # the signed manifest it was accepted with
    refusal: VaultError | None = None


@contextmanager
def attempt_import(sent: Sent, data: bytes, name: str, *,
                   accept_untrusted: bool = False) -> Iterator[Attempt]:
    """Import ``data`` into a fresh copy of the receiving vault; a refusal is kept (and
    checked: one line naming the file, the vault unchanged), any other exception escapes."""
    work = Path(tempfile.mkdtemp(dir=sent.base))
    try:
        path = work / name
        path.write_bytes(data)
        root = work / "vault"
        shutil.copytree(sent.receiver, root)
        at = Attempt(path, root, tree_digest(root))
        try:
            with Vault.open(root, home=work / "home") as vault, load(path) as bundle:
                at.plan = import_bundle(vault, bundle, sent.trust,
                                        accept_untrusted=accept_untrusted, dry_run=False,
                                        signer=sent.receiver_key)
                at.manifest = bundle.manifest if bundle.signed else None
        except VaultError as exc:
            at.refusal = exc
        except ProvaraDesktopError as exc:  # ours, but not a verdict on the bundle's content
            pytest.fail(f"refused with {type(exc).__name__}, not a VaultError: {exc}")
        if at.refusal is not None:
            _check_refusal(at)
        yield at
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_refusal(at: Attempt) -> None:
    message = str(at.refusal)
    assert message.strip(), "a refusal must say why"
    assert "\n" not in message, f"one line, not {message!r}"
    assert str(at.path) in message, f"the message must name the file: {message!r}"
    assert tree_digest(at.root) == at.before, "a refused import changed the vault"
    _tally(f"refused: {type(at.refusal).__name__}")


def import_damaged(sent: Sent, data: bytes, name: str) -> str:
    """The property in the module docstring; returns "refused" or "imported"."""
    with attempt_import(sent, data, name) as at:
        if at.refusal is not None:
            return "refused"
        if at.manifest is not None:
            assert at.manifest == sent.manifest, "accepted a manifest its signer did not sign"
        before = _log_lines(sent.receiver)
        after = _log_lines(at.root)
        assert all(after.get(eid) == raw for eid, raw in before.items())
        added = {eid: raw for eid, raw in after.items() if eid not in before}
        assert added == sent.lines, "the import did not yield exactly the exported events"
        assert Counter(str(e["event_id"]) for e in at.plan.check.events) == Counter(
            list(sent.lines))
        assert at.plan.imported == len(sent.lines)
        _tally("imported")
        return "imported"


def _tally(outcome: str) -> None:
    """Count outcomes (--hypothesis-show-statistics) to see both halves are exercised."""
    if currently_in_test_context():
        event(outcome)


def test_undamaged_bundles_import(sent: Sent) -> None:
    """The property's other half is reachable: both files, untouched, import in full."""
    assert import_damaged(sent, sent.bundle, "good.provara-bundle") == "imported"
    assert import_damaged(sent, sent.delta, "good.delta") == "imported"


_flips = st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)),
                  min_size=1, max_size=8)


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for off, x in flips:
        buf[off % len(buf)] ^= x
    return bytes(buf)


@FUZZ
@given(flips=_flips)
def test_random_byte_changes(sent: Sent, flips: list[tuple[int, int]]) -> None:
    import_damaged(sent, _flip(sent.bundle, flips), "fuzz.provara-bundle")


@FUZZ
@given(cut=st.integers(min_value=0), junk=st.binary(max_size=64))
def test_truncation_and_junk(sent: Sent, cut: int, junk: bytes) -> None:
    import_damaged(sent, sent.bundle[: cut % (len(sent.bundle) + 1)] + junk,
                   "cut.provara-bundle")


@FUZZ
@given(flips=_flips)
def test_delta_byte_changes(sent: Sent, flips: list[tuple[int, int]]) -> None:
    """An unsigned delta has only each event's own id, signature and chain to stand on."""
    import_damaged(sent, _flip(sent.delta, flips), "fuzz.delta")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
# A well-formed signature that is not the event's: passes every shape check.
_signatures = st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode())


@FUZZ
@given(which=st.integers(min_value=0), name=st.sampled_from(
           ["event_id", "sig", "sig", "actor", "actor_key_id", "prev_event_hash", "type",
            "namespace", "timestamp_utc", "ts_logical", "payload", "payload.value"]),
       value=_json_values | _signatures | st.sampled_from(["", "evt_0"]),
       from_other=st.booleans())
def test_delta_event_field_changes(sent: Sent, which: int, name: str, value: Any,
                                   from_other: bool) -> None:
    """One field of one event changed (or taken from another event), the line written back
    canonically: only the event checks (id, signature, key, chain) stand in the way."""
    header, *body = sent.delta.splitlines()
    i = which % len(body)
    events = [json.loads(raw) for raw in body]
    if from_other:
        value = _get(events[(i + 1) % len(events)], name)
    _set(events[i], name, value)
    body[i] = canonical_bytes(events[i])
    import_damaged(sent, b"\n".join([header, *body]) + b"\n", "field.delta")


def _get(ev: dict[str, Any], name: str) -> Any:
    for part in name.split("."):
        ev = ev.get(part) if isinstance(ev, dict) else None  # type: ignore[assignment]
    return ev


def _set(ev: dict[str, Any], name: str, value: Any) -> None:
    *parents, last = name.split(".")
    for part in parents:
        ev = ev.setdefault(part, {})
    ev[last] = value


@FUZZ
@given(member=st.sampled_from([fmt.EVENTS, fmt.KEYS, fmt.MANIFEST, fmt.SIGNATURE, "cas"]),
       flips=_flips)
def test_member_changes_with_valid_zip(sent: Sent, member: str,
                                       flips: list[tuple[int, int]]) -> None:
    """One member changed and the zip rebuilt around it (its CRCs right), so the zip's own
    checksums cannot catch it: the signature and the manifest's sha256s must."""
    members = read_members(sent.base / "good.provara-bundle")
    if member == "cas":
        member = next(n for n in members if fmt.is_cas_member(n))
    members[member] = _flip(members[member], flips)
    path = write_bundle(sent.base / "rezipped.provara-bundle", members)
    import_damaged(sent, path.read_bytes(), "rezipped.provara-bundle")


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["type", "keys", "event_count", "x"]),
                              _json_values, max_size=4),
       lines=st.lists(_json_values, max_size=5))
def test_delta_v1_reader(sent: Sent, header: dict[str, Any], lines: list[Any]) -> None:
    """Random JSON can hold no event anyone signed: refused, never imported."""
    header = {"type": "provara_delta_v1", **header}
    data = ("\n".join(json.dumps(x) for x in [header, *lines]) + "\n").encode()
    assert import_damaged_or_empty(sent, data) in ("refused", "empty")


def import_damaged_or_empty(sent: Sent, data: bytes) -> str:
    """Like import_damaged, for files that hold no exported event: a file that is accepted
    (even with untrusted keys accepted) must import nothing and leave the vault as it was."""
    with attempt_import(sent, data, "random.delta", accept_untrusted=True) as at:
        if at.refusal is not None:
            return "refused"
        assert at.plan.imported == 0
        assert tree_digest(at.root) == at.before
        _tally("accepted, nothing imported")
        return "empty"
