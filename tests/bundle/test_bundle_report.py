"""The chain-of-custody report (HTML): what it says about a vault and a bundle, that the
selection holds exactly the chosen events, that hostile text from the evidence is escaped,
and that a tampered vault is reported as failed, naming the altered event."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from tests.bundle.conftest import Cli, Person, trust

if TYPE_CHECKING:
    from pathlib import Path

EVIL = "<script>alert('x')</script>"


def test_vault_report_lists_events_signers_attachments(cli: Cli, alice: Person,
                                                       tmp_path: Path) -> None:
    att = tmp_path / "<b>scan<i>.txt"
    att.write_text("scan")
    e1 = cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate",
                  "state", "--value", json.dumps(EVIL), "--attach", str(att))["event_id"]
    e2 = cli.json(alice, "observe", str(alice.vault), "--subject", "window", "--predicate",
                  "state", "--value", '"open"')["event_id"]
    out = tmp_path / "r.html"
    doc = cli.json(alice, "report", str(alice.vault), str(out), "--subject", "door")
    assert doc["event_count"] == 1
    assert doc["verification_ok"] is True
    text = out.read_text("utf-8")
    assert e1 in text
    assert e2 not in text  # the selection holds exactly its subject
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "<b>scan" not in text
    assert alice.fingerprint in text
    assert alice.key_id in text
    assert "PASSED" in text
    assert "present, sha256 verified" in text
    assert not re.search(r"(src|href)\s*=", text)  # self-contained
    code, _, err = cli(alice, "report", str(alice.vault), str(out))
    assert code == 2
    assert "already exists" in err


def test_report_of_a_tampered_vault_says_failed(cli: Cli, alice: Person,
                                                tmp_path: Path) -> None:
    eid = cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate",
                   "state", "--value", '"open"')["event_id"]
    log = alice.vault / "events/events.ndjson"
    log.write_bytes(log.read_bytes().replace(b'"open"', b'"shut"'))
    out = tmp_path / "r.html"
    code, raw, err = cli(alice, "report", str(alice.vault), str(out), "--json")
    assert code == 0
    assert json.loads(raw)["verification_ok"] is False
    assert "FAILED" in err
    text = out.read_text("utf-8")
    assert "FAILED" in text
    assert eid in text
    assert "not the hash of its content" in text


def test_bundle_report(cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> None:
    cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate", "state",
             "--value", '"open"')
    bundle = tmp_path / "a.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(bundle))
    out = tmp_path / "b.html"
    doc = cli.json(bob, "report", str(bundle), str(out), "--actor", alice.actor)
    assert doc["event_count"] == 3
    text = out.read_text("utf-8")
    assert "NOT trusted by the reader" in text
    assert alice.fingerprint in text
    trust(cli, bob, alice)
    out2 = tmp_path / "b2.html"
    cli.json(bob, "report", str(bundle), str(out2))
    assert "your trust store (Alice, added by hand" in out2.read_text("utf-8")
