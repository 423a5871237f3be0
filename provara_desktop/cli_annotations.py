"""`annotate` and `annotations` (docs/ANNOTATIONS.md): signed tags, comments and review
marks on an event or a belief, and the list of them with the review progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output

if TYPE_CHECKING:
    import argparse

_emit, _home = cli_output.emit, cli_output.home
ANNOTATION_HEADER = ("Time", "Reviewer", "Key", "On", "Kind", "Tag, mark or text", "Standing",
                     "Annotation id")


def cmd_annotate(args: argparse.Namespace) -> int:
    import sys

    from provara_desktop.core import annotations as core
    from provara_desktop.passphrase_input import read_passphrase
    from provara_desktop.store.annotations import annotate
    from provara_desktop.store.identity import IdentityStore
    from provara_desktop.store.vault import Vault

    # Checked before the passphrase is asked: a typo costs no unlock.
    target = core.target_of(args.event, args.belief)
    core.payload(target, tag=args.tag, comment=args.comment, mark=args.mark,
                 withdraw=args.withdraw, annotated_utc="")
    home = _home(args)
    store = IdentityStore(home)
    ident = store.load()
    key = store.unlock(read_passphrase(args.passphrase_file))
    with Vault.open(Path(args.vault), home=home) as vault:
        result = annotate(vault, key, ident.actor, event_id=args.event, belief=args.belief,
                          tag=args.tag, comment=args.comment, mark=args.mark,
                          withdraw=args.withdraw)
    ev = result.events[-1]
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    made = core.read(ev)
    assert made is not None
    doc = {**made.to_json(), "notes": result.notes}
    _emit(args, doc, f"annotated {made.target_text()} ({made.kind}): {ev['event_id']}")
    return 0


def cmd_annotations(args: argparse.Namespace) -> int:
    from provara_desktop.core import annotations as core
    from provara_desktop.store.annotations import folded
    from provara_desktop.store.vault import Vault

    with Vault.open(Path(args.vault), home=_home(args)) as vault:
        found = folded(vault)
        contested = vault.reduce().export_state()["contested"]
    shown = [a for a in found.all
             if (args.event is None or a.target.get("event_id") == args.event)
             and (args.belief is None or a.target.get("belief") == args.belief)
             and (args.tag is None or (a.kind == core.TAG and a.tag == args.tag))]
    progress = core.progress(found, contested)
    doc: dict[str, Any] = {"vault": str(Path(args.vault).absolute()),
                           "annotations": [a.to_json() for a in shown],
                           "progress": progress}
    if args.csv:  # exactly the rows listed, as CSV (store/csv_export.py)
        from provara_desktop.store.csv_export import write_csv

        doc["csv"] = {"path": args.csv, "rows": write_csv(Path(args.csv), ANNOTATION_HEADER, (
            (a.timestamp_utc, a.actor, a.signer, a.target_text(), a.kind,
             a.tag or a.mark or a.text or a.withdraws,
             "withdrawn" if a.withdrawn_by else (a.ignored or ""), a.event_id)
            for a in shown))}
    lines = [progress["text"]]
    for a in shown:
        what = a.tag or a.mark or a.text or f"withdraws {a.withdraws}"
        state = (" (withdrawn)" if a.withdrawn_by else
                 f" (counts for nothing: {a.ignored})" if a.ignored else "")
        lines.append(f"{a.timestamp_utc or '?'}  {a.actor}  {a.target_text()}  {a.kind}: "
                     f"{what}{state}  [{a.event_id}]")
    _emit(args, doc, "\n".join(lines))
    return 0


def add_parsers(sub: Any, cmd: Any) -> None:
    from provara_desktop.core.annotations import MARKS

    sp = cmd("annotate", cmd_annotate, "sign a tag, comment or review mark on an event or a "
             "belief (or withdraw one of yours)", sub)
    sp.add_argument("vault")
    sp.add_argument("--event", metavar="EVT")
    sp.add_argument("--belief", metavar="SUBJECT:PREDICATE")
    sp.add_argument("--tag", metavar="T")
    sp.add_argument("--comment", metavar="TEXT")
    sp.add_argument("--mark", choices=list(MARKS))
    sp.add_argument("--withdraw", metavar="ANNOTATION_EVT")
    sp = cmd("annotations", cmd_annotations, "the annotations of a vault (filtered) and the "
             "review progress of its contested beliefs", sub)
    sp.add_argument("vault")
    sp.add_argument("--csv", metavar="OUT", help="also write the rows listed as CSV")
    sp.add_argument("--event", metavar="EVT")
    sp.add_argument("--belief", metavar="SUBJECT:PREDICATE")
    sp.add_argument("--tag", metavar="T")
