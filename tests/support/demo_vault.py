"""A demonstration vault: a small, realistic investigation with everything the app shows.

``make_demo_vault(root)`` writes, through the store API only, the vault of case 2026-0412
(a break-in at a harbour warehouse) as four investigators would have built it together:

- each investigator is a real identity (Ed25519 key sealed by a passphrase) in their own
  profile directory under ``root/profiles/<first name>``, because one identity is one actor;
- they record exhibits, custody, locations and lab findings (``store.evidence.observe``), with
  two evidence files stored in the vault's CAS (a custody form and an imaging report);
- three beliefs end up contested (two people saw different values, confidence >= 0.5), and
  one more was contested until the lead attested a value citing both observations;
- a later re-attestation archives the first canonical value, and a retraction (with its
  reason) archives a suspect identification that turned out wrong;
- the evidence clerk signs two events on the same predecessor (a fork: equivocation, one
  device saying the laptop is in locker 1, another that it went back to its owner).

The vault verifies cleanly except for that deliberate fork. The lead's profile holds the
index and is the natural "viewer" identity for the app (``DemoVault.viewer_home``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id

from provara_desktop.core.event import build_event
from provara_desktop.store.evidence import attest, observe, retract, stage_attachment
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from provara_desktop.core.keys import SigningKey

DEMO_PASSPHRASE = "correct horse battery staple"
CASE_UID = "case-2026-0412-harbour-rd"

# (first name, full name, role) in the order they join the case; the first creates the vault.
PEOPLE = (
    ("maya", "Maya Okafor", "lead investigator"),
    ("tom", "Tom Brandt", "scene officer"),
    ("lena", "Lena Ruiz", "forensic analyst"),
    ("sam", "Sam Idris", "evidence clerk"),
)

CUSTODY_FORM = """CHAIN OF CUSTODY - Case 2026-0412 (Harbour Rd warehouse break-in)
Exhibit: EX-01  Dell Latitude 7420 laptop, serial 7QX2LM3, lid cracked
Seized:  2026-04-12 06:40 by Off. T. Brandt at bay 3, Harbour Rd warehouse
Seal:    tamper-evident bag, seal #40021, intact
Handed:  2026-04-12 09:15 to clerk S. Idris, evidence room
"""

IMAGING_REPORT = """FORENSIC IMAGING REPORT - EX-01
Analyst: L. Ruiz   Write blocker: Tableau T35u   Tool: ewfacquire 20231119
Source:  256 GB NVMe (Samsung PM9A1), serial S64ENF0R123456
Image:   EX-01.E01, 41 segments
MD5:     5d41402abc4b2a76b9719d911017c592
SHA-256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
Result:  acquisition and verification hashes match
"""


@dataclass(frozen=True)
class DemoActor:
    name: str
    role: str
    home: Path  # the profile directory holding this actor's identity
    actor: str  # the actor label on their events
    key_id: str
    fingerprint: str


@dataclass
class DemoVault:
    path: Path
    passphrase: str
    actors: dict[str, DemoActor]  # by first name: maya, tom, lena, sam
    contested_keys: list[str]  # subject:predicate keys left contested
    resolved_key: str  # contested once, then settled by an attestation citing both sides
    retracted_key: str
    fork_actor: str  # actor label of the clerk who signed two events on one predecessor
    fork_event_ids: tuple[str, str]
    attachment_sha256: list[str] = field(default_factory=list)
    event_count: int = 0

    @property
    def viewer_home(self) -> Path:
        """The lead's profile: an identity to open the app with, and the built index."""
        return self.actors["maya"].home


class _Case:
    """The writer: one vault handle, and each person's unlocked key for signing."""

    def __init__(self, vault: Vault, keys: dict[str, SigningKey],
                 actors: dict[str, DemoActor]) -> None:
        self.vault, self.keys, self.actors = vault, keys, actors

    def observe(self, who: str, subject: str, predicate: str, value: Any, confidence: float,
                note: str | None = None, attachments: tuple[Path, ...] = ()) -> str:
        result = observe(self.vault, self.keys[who], self.actors[who].actor, subject=subject,
                         predicate=predicate, value=value, confidence=confidence, note=note,
                         attachments=attachments)
        return str(result.events[0]["event_id"])

    def attest(self, who: str, subject: str, predicate: str, value: Any,
               targets: tuple[str, ...] = ()) -> str:
        result = attest(self.vault, self.keys[who], self.actors[who].actor, subject=subject,
                        predicate=predicate, value=value, targets=targets)
        return str(result.events[0]["event_id"])

    def retract(self, who: str, subject: str, predicate: str, reason: str) -> str:
        result = retract(self.vault, self.keys[who], self.actors[who].actor, subject=subject,
                         predicate=predicate, reason=reason)
        return str(result.events[0]["event_id"])

    def fork(self, who: str, witness: str, subject: str, predicate: str,
             values: tuple[Any, Any], confidence: float) -> tuple[str, str]:
        """Two events by ``who`` on the same predecessor. The vault refuses to fork the chain
        of the key that signs the append, so the append is made under ``witness``'s key, as
        an import of someone else's events would be."""
        actor = self.actors[who].actor
        head = self.vault.chain_head(actor)
        assert head is not None, "the forking actor needs a chain to fork"
        prev = self.vault.read_row(head)
        ts_logical = int(prev.get("ts_logical", 0)) + 1
        events = [
            build_event(event_type="OBSERVATION", actor=actor,
                        payload={"subject": subject, "predicate": predicate, "value": value,
                                 "confidence": confidence},
                        prev_event_hash=head.event_id, key=self.keys[who], namespace="local",
                        ts_logical=ts_logical)
            for value in values]
        self.vault.append(events, signer=self.keys[witness])
        return str(events[0]["event_id"]), str(events[1]["event_id"])


def _make_people(root: Path) -> tuple[dict[str, DemoActor], dict[str, SigningKey]]:
    actors: dict[str, DemoActor] = {}
    keys: dict[str, SigningKey] = {}
    for first, full, role in PEOPLE:
        # libsodium's minimum Argon2id cost: a demo passphrase protects nothing, and the
        # parameters are stored in the file, so the app unlocks it like any other identity.
        store = IdentityStore(root / "profiles" / first,
                              opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                              memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN)
        ident = store.create(full, DEMO_PASSPHRASE)
        keys[first] = store.unlock(DEMO_PASSPHRASE)
        actors[first] = DemoActor(full, role, store.home, ident.actor, ident.key_id,
                                  ident.fingerprint)
    return actors, keys


def make_demo_vault(root: Path) -> DemoVault:
    """Write the demonstration vault at ``root/vault`` (profiles under ``root/profiles``,
    evidence files under ``root/evidence``). ``root`` must not hold a previous demo."""
    root = Path(root).absolute()
    actors, keys = _make_people(root)
    files = root / "evidence"
    files.mkdir(parents=True)
    custody = files / "custody-form-EX-01.txt"
    custody.write_text(CUSTODY_FORM, encoding="utf-8")
    imaging = files / "imaging-report-EX-01.txt"
    imaging.write_text(IMAGING_REPORT, encoding="utf-8")

    maya = actors["maya"]
    vault = Vault.init(root / "vault", key=keys["maya"], actor=maya.actor, home=maya.home,
                       uid=CASE_UID)
    c = _Case(vault, keys, actors)
    try:
        # The scene, as the first officer recorded it.
        c.observe("tom", "EX-01", "description", "Dell Latitude 7420 laptop, cracked lid", 0.95,
                  note="found under the workbench in bay 3", attachments=(custody,))
        c.observe("tom", "EX-01", "location", "Harbour Rd warehouse, bay 3", 0.9)
        tom_ex02 = c.observe("tom", "EX-02", "location", "evidence locker 2", 0.8)
        c.observe("tom", "EX-02", "description", "crowbar, 60 cm, red paint traces", 0.9)
        c.observe("tom", "EX-03", "description", "blue hooded sweatshirt, size L", 0.85)
        c.observe("tom", "scene", "entry_point", "rear loading door", 0.8,
                  note="pry marks on the door frame")
        c.observe("tom", "vehicle-1", "plate", "KX-4417", 0.6,
                  note="partial read from the gate camera")
        # Custody, as the clerk logged it.
        c.observe("sam", "EX-01", "custodian", "clerk S. Idris, evidence room", 1.0)
        c.observe("sam", "EX-01", "seal", "intact, seal #40021", 1.0)
        # The lab.
        lena_ex02 = c.observe("lena", "EX-02", "location", "forensics lab, bench 4", 0.9,
                              note="signed out for paint comparison")
        c.observe("lena", "EX-02", "paint_trace", "matches the loading door frame", 0.85)
        c.observe("lena", "EX-01", "disk_image_sha256",
                  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", 1.0,
                  note="acquired with a write blocker", attachments=(imaging,))
        c.observe("lena", "EX-03", "fibres", "consistent with fibres on the fence", 0.7)
        c.observe("lena", "scene", "entry_point", "skylight above bay 3", 0.65,
                  note="glass fragments inside, none outside")
        # The lead reviews.
        c.observe("maya", "vehicle-1", "plate", "KX-4471", 0.7,
                  note="full read from the petrol station camera")
        c.attest("maya", "EX-02", "location", "forensics lab, bench 4",
                 targets=(lena_ex02, tom_ex02))
        tom_desc = c.observe("tom", "EX-01", "owner", "Harbour Logistics Ltd", 0.9)
        c.attest("maya", "EX-01", "owner", "Harbour Logistics Ltd", targets=(tom_desc,))
        c.attest("maya", "EX-03", "owner", "suspect A (R. Vance)")
        c.retract("maya", "EX-03", "owner",
                  reason="identification rested on the wrong photo line-up")
        c.attest("maya", "EX-01", "owner", "Harbour Logistics Ltd (leased to M. Grady)")
        # The clerk's two devices disagree about where the laptop went: a fork.
        fork_ids = c.fork("sam", "maya", "EX-01", "location",
                          ("evidence locker 1", "returned to owner"), 0.9)
        c.observe("tom", "EX-03", "location", "evidence locker 2", 0.8)
        event_count = vault.index.count()
    finally:
        vault.close()
    return DemoVault(
        path=root / "vault", passphrase=DEMO_PASSPHRASE, actors=actors,
        contested_keys=["EX-01:location", "scene:entry_point", "vehicle-1:plate"],
        resolved_key="EX-02:location", retracted_key="EX-03:owner",
        fork_actor=actors["sam"].actor, fork_event_ids=fork_ids,
        attachment_sha256=[stage_attachment(custody).sha256, stage_attachment(imaging).sha256],
        event_count=event_count)
