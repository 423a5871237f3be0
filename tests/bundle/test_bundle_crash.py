"""An import interrupted at the worst moments: before its commit point the vault is exactly
as it was; after it, the next open completes the import from the journal (attachments
included) and the vault verifies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from provara_desktop.bundle.intake_batch import check_bundle as check
from provara_desktop.bundle.load import load
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.store import txn
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.bundle.conftest import Cli, Person, event_ids, tree_digest, trust

if TYPE_CHECKING:
    from pathlib import Path


class PowerCut(BaseException):
    """Raised where a crash would stop the process (BaseException: nothing catches it)."""


@pytest.fixture
def bundle(cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> Path:
    att = tmp_path / "photo.bin"
    att.write_bytes(b"\x00\x01photo" * 500)
    cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate", "state",
             "--value", '"open"', "--attach", str(att))
    out = tmp_path / "a.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(out))
    trust(cli, bob, alice)
    return out


def _import(bob: Person, bundle: Path) -> None:
    key = bob.key()
    with Vault.open(bob.vault, home=bob.home) as vault, load(bundle) as b:
        c = check(b, trust_for(bob.home), vault=vault)
        intake_commit.commit(vault, intake_plan.plan(vault, c, accept_untrusted=False),
                             signer=key)


def test_crash_before_the_commit_point_changes_nothing(
        bob: Person, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree_digest(bob.vault)
    real = txn.write_file_durably

    def cut(path: Path, data: bytes) -> None:
        if path.name.startswith(txn.JOURNAL):
            raise PowerCut
        real(path, data)

    monkeypatch.setattr(txn, "write_file_durably", cut)
    with pytest.raises(PowerCut):
        _import(bob, bundle)
    monkeypatch.undo()
    with Vault.open(bob.vault, home=bob.home) as vault:  # recovery discards the transaction
        assert vault.notes
        assert "discarded" in vault.notes[0]
    assert tree_digest(bob.vault) == before


def test_crash_after_the_commit_point_is_completed_on_open(
        alice: Person, bob: Person, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cut(root: Path, handle: Path, doc: dict, tail: bytes) -> None:
        raise PowerCut

    monkeypatch.setattr(txn, "_apply", cut)
    with pytest.raises(PowerCut):
        _import(bob, bundle)
    monkeypatch.undo()
    with Vault.open(bob.vault, home=bob.home) as vault:
        assert any("completed" in n for n in vault.notes)
        report = verify_vault(vault)
        assert report.ok, [p.message for p in report.all_problems]
    assert set(event_ids(alice.vault)) <= set(event_ids(bob.vault))
    assert len(list((bob.vault / "artifacts/cas").iterdir())) == 1
