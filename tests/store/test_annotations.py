"""Signed annotations through the command line, as reviewers use them: tags, comments and
review marks on events and beliefs, withdrawn only by their author, the review progress of
the contested beliefs, every bad input refused with the vault byte for byte unchanged, and
annotations carried by a bundle to another replica with their signers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.bundle.conftest import tree_digest
from tests.store.test_hierarchy import PASS, Person

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def case(tmp_path: Path, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Dana's vault: the door seen open by her and closed by Eve (a contested belief), and
    a second, uncontested one. Eve records in Dana's vault with her own profile."""
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    dana, eve = Person(tmp_path, "Dana", capsys), Person(tmp_path, "Eve", capsys)
    seen = dana.ok("observe", str(dana.vault), "--subject", "door", "--predicate", "state",
                   "--value", '"open"', "--confidence", "0.9")["event_id"]
    eve.ok("observe", str(dana.vault), "--subject", "door", "--predicate", "state",
           "--value", '"closed"', "--confidence", "0.9")
    dana.ok("observe", str(dana.vault), "--subject", "window", "--predicate", "state",
            "--value", '"shut"')
    return {"dana": dana, "eve": eve, "vault": str(dana.vault), "seen": seen}


def test_tags_comments_and_marks_are_signed_listed_and_counted(case: dict[str, Any]) -> None:
    dana, eve, vault = case["dana"], case["eve"], case["vault"]
    beliefs_before = _beliefs(dana, vault)
    tag = dana.ok("annotate", vault, "--event", case["seen"], "--tag", "photo-needed")
    assert tag["kind"] == "tag"
    assert tag["signer"] == dana.key_id
    assert tag["target"] == {"event_id": case["seen"]}
    note = eve.ok("annotate", vault, "--belief", "door:state", "--comment",
                  "The neighbour says it was closed by 9pm.")
    dana.ok("annotate", vault, "--belief", "door:state", "--mark", "follow-up")
    listed = dana.ok("annotations", vault)
    assert [a["kind"] for a in listed["annotations"]] == ["tag", "comment", "mark"]
    assert listed["annotations"][1]["signer"] == eve.key_id
    assert listed["annotations"][1]["text"] == "The neighbour says it was closed by 9pm."
    assert listed["progress"]["contested"] == 1
    assert listed["progress"]["follow_up"] == 1
    assert listed["progress"]["text"] == "0 of 1 contested beliefs reviewed, 1 need follow-up"
    # Eve reviews it: the latest standing mark counts, and who reviewed what is said.
    eve.ok("annotate", vault, "--belief", "door:state", "--mark", "reviewed")
    progress = dana.ok("annotations", vault)["progress"]
    assert progress["text"] == "1 of 1 contested beliefs reviewed, 0 need follow-up"
    assert progress["by_reviewer"] == {eve.actor: {"reviewed": ["door:state"]}}
    # Filters.
    assert [a["event_id"] for a in dana.ok("annotations", vault, "--belief",
                                           "door:state")["annotations"]][0] == note["event_id"]
    assert len(dana.ok("annotations", vault, "--tag", "photo-needed")["annotations"]) == 1
    assert dana.ok("annotations", vault, "--event", case["seen"])["annotations"][0][
        "tag"] == "photo-needed"
    # The reducer ignores them: every belief is what it was before any annotation.
    assert _beliefs(dana, vault) == beliefs_before
    assert dana.ok("verify", vault)["ok"] is True


def _beliefs(p: Person, vault: str) -> dict[str, Any]:
    state = p.ok("state", vault)
    return {ns: state[ns] for ns in ("canonical", "local", "contested", "archived")}


def test_only_its_author_withdraws_an_annotation(case: dict[str, Any]) -> None:
    dana, eve, vault = case["dana"], case["eve"], case["vault"]
    mark = dana.ok("annotate", vault, "--belief", "door:state", "--mark", "disputed")
    before = tree_digest(dana.vault)
    code, _, err = eve.run("annotate", vault, "--belief", "door:state", "--withdraw",
                           mark["event_id"])
    assert code == 2
    assert "only its author" in err
    assert tree_digest(dana.vault) == before
    gone = dana.ok("annotate", vault, "--belief", "door:state", "--withdraw", mark["event_id"])
    assert gone["withdraws"] == mark["event_id"]
    listed = {a["event_id"]: a for a in dana.ok("annotations", vault)["annotations"]}
    assert listed[mark["event_id"]]["withdrawn_by"] == gone["event_id"]
    assert dana.ok("annotations", vault)["progress"]["disputed"] == 0
    code, _, err = dana.run("annotate", vault, "--belief", "door:state", "--withdraw",
                            mark["event_id"])
    assert code == 2
    assert "already withdrawn" in err


@pytest.mark.parametrize(("argv", "said"), [
    (["--event", "evt_000000000000000000000000", "--tag", "x"], "no such event"),
    (["--belief", "ghost:state", "--tag", "x"], "no event in"),
    (["--belief", "door:state", "--comment", "   "], "--comment is empty"),
    (["--belief", "door:state", "--comment", "x" * 4001], "over the 4000 allowed"),
    (["--belief", "door:state", "--tag", "two words"], "no spaces"),
    (["--belief", "door:state", "--mark", "maybe"], "invalid choice"),
    (["--belief", "door:state"], "exactly one of"),
    (["--belief", "door:state", "--event", "evt_000000000000000000000000", "--tag", "x"],
     "exactly one target"),
    (["--belief", "door:state", "--withdraw", "evt_000000000000000000000000"],
     "no annotation with that id"),
])
def test_bad_annotations_are_refused_and_nothing_is_written(
        case: dict[str, Any], argv: list[str], said: str) -> None:
    dana = case["dana"]
    before = tree_digest(dana.vault)
    code, _, err = dana.run("annotate", case["vault"], *argv)
    assert code == 2
    assert said in err
    assert err.count("\n") == 1, err  # one line, no traceback
    assert tree_digest(dana.vault) == before


def carried_to_finn(case: dict[str, Any], tmp_path: Path) -> Person:
    """Dana's vault exported as a bundle and imported by Finn, a third investigator, into
    his own vault (he trusts Dana and Eve)."""
    dana, eve = case["dana"], case["eve"]
    bundle = tmp_path / "case.provara-bundle"
    dana.ok("export", case["vault"], str(bundle))
    finn = Person(tmp_path, "Finn", dana.capsys)
    for who in (dana, eve):
        finn.ok("trust", "add", who.key_id, "--public-key",
                json.loads((who.home / "identity.json").read_text())["public_key_b64"])
    finn.ok("import", str(finn.vault), str(bundle))
    return finn


def test_annotations_travel_by_bundle_with_their_signers(case: dict[str, Any],
                                                        tmp_path: Path) -> None:
    dana, eve = case["dana"], case["eve"]
    dana.ok("annotate", case["vault"], "--belief", "door:state", "--mark", "reviewed")
    eve.ok("annotate", case["vault"], "--event", case["seen"], "--comment", "blurry photo")
    finn = carried_to_finn(case, tmp_path)
    there = finn.ok("annotations", str(finn.vault))["annotations"]
    assert [(a["kind"], a["signer"]) for a in there] == [("mark", dana.key_id),
                                                         ("comment", eve.key_id)]
    assert finn.ok("annotations", str(finn.vault))["progress"]["reviewed"] == 1
    assert finn.ok("verify", str(finn.vault))["ok"] is True


def test_annotations_export_exactly_their_filtered_rows_as_csv(case: dict[str, Any],
                                                               tmp_path: Path) -> None:
    import csv

    dana, vault = case["dana"], case["vault"]
    dana.ok("annotate", vault, "--belief", "door:state", "--tag", "=cmd|calc")
    dana.ok("annotate", vault, "--belief", "door:state", "--comment", "-3 degrees outside")
    dana.ok("annotate", vault, "--event", case["seen"], "--tag", "photo")
    out = tmp_path / "notes.csv"
    doc = dana.ok("annotations", vault, "--belief", "door:state", "--csv", str(out))
    assert doc["csv"]["rows"] == 2
    with out.open(encoding="utf-8-sig", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[5] == "Tag, mark or text"
    # a formula is kept as text; a sentence that starts with a minus sign too, but not a
    # plain number
    assert [r[5] for r in rows] == ["'=cmd|calc", "'-3 degrees outside"]
    assert {r[3] for r in rows} == {"door:state"}


def test_the_evidence_report_lists_the_annotations(case: dict[str, Any],
                                                   tmp_path: Path) -> None:
    dana, eve, vault = case["dana"], case["eve"], case["vault"]
    eve.ok("annotate", vault, "--belief", "door:state", "--comment", "seen by the <b>janitor</b>")
    mark = dana.ok("annotate", vault, "--event", case["seen"], "--mark", "disputed")
    dana.ok("annotate", vault, "--event", case["seen"], "--withdraw", mark["event_id"])
    dana.ok("annotate", vault, "--belief", "window:state", "--tag", "later")
    out = tmp_path / "door.html"
    dana.ok("report", vault, str(out), "--subject", "door")
    page = out.read_text()
    assert "Annotations (3)" in page  # the door's: the comment, the mark, its withdrawal
    assert "seen by the &lt;b&gt;janitor&lt;/b&gt;" in page  # escaped, never markup
    assert eve.key_id in page
    assert "withdrawn by" in page
    assert "later" not in page.split("Annotations (3)")[1]  # the window's tag: not this report


def test_the_evidence_report_previews_checked_attachments(case: dict[str, Any],
                                                          tmp_path: Path) -> None:
    import base64
    import hashlib

    dana, vault = case["dana"], case["vault"]
    photo, notes = tmp_path / "door.png", tmp_path / "statement.txt"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels" * 10)
    notes.write_text("The door was <open> at 21:40.")
    dana.ok("observe", vault, "--subject", "door", "--predicate", "photo", "--value", '"x"',
            "--attach", str(photo), "--attach", str(notes))
    out = tmp_path / "r1.html"
    dana.ok("report", vault, str(out), "--subject", "door")
    page = out.read_text()
    assert f"data:image/png;base64,{base64.b64encode(photo.read_bytes()).decode()}" in page
    assert "The door was &lt;open&gt; at 21:40." in page
    # The stored photo altered: no preview of it, and the report says it is damaged.
    stored = dana.vault / "artifacts" / "cas" / hashlib.sha256(photo.read_bytes()).hexdigest()
    stored.write_bytes(b"something else")
    code, _, _ = dana.run("report", vault, str(tmp_path / "r2.html"), "--subject", "door")
    page = (tmp_path / "r2.html").read_text()
    assert "data:image/png" not in page
    assert "MISSING OR DAMAGED" in page
    assert code == 0  # the report is written either way: it says what failed
