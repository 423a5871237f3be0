"""The chain-of-custody report: one self-contained HTML file an investigator can hand to
someone without the app (and that ui/report_pdf.py prints to PDF).

For a selection (one subject, one actor, or everything) of a vault or of a bundle it lists
where the evidence came from, how it was verified and with what result, who signed it (key
ids and fingerprints), every event with its chain link and signature status, and every
attachment with its sha256. All text from the evidence is HTML-escaped: a payload can hold
anything, including markup.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop import __version__
from provara_desktop.core.annotations import Annotation, fold
from provara_desktop.core.annotations import read as read_annotation
from provara_desktop.core.event import utc_now_iso
from provara_desktop.core.keyring import KeyRing
from provara_desktop.intake.attachment_refs import attachment_refs
from provara_desktop.store import attachment_files
from provara_desktop.store.annotations import folded

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.bundle.intake_batch import BundleCheck
    from provara_desktop.core.verify import Problem
    from provara_desktop.store.vault import Vault

_CSS = """
body{font-family:sans-serif;font-size:10pt;margin:2em;color:#111}
h1{font-size:16pt} h2{font-size:12pt;margin-top:1.5em;border-bottom:1px solid #888}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #aaa;padding:3px 5px;
vertical-align:top;text-align:left} th{background:#eee} code{font-size:9pt}
.ok{color:#060;font-weight:bold} .bad{color:#a00;font-weight:bold} .warn{color:#a60}
"""


@dataclass
class ReportScope:
    subject: str | None = None
    actor: str | None = None

    def describe(self) -> str:
        parts = []
        if self.subject:
            parts.append(f"subject {self.subject!r}")
        if self.actor:
            parts.append(f"actor {self.actor!r}")
        return " and ".join(parts) or "all events"

    def wants(self, ev: dict[str, Any]) -> bool:
        payload = ev.get("payload")
        subject = payload.get("subject") if isinstance(payload, dict) else None
        if self.subject is not None and subject != self.subject:
            return False
        return self.actor is None or ev.get("actor") == self.actor


@dataclass
class ReportData:
    title: str
    source: list[tuple[str, str]]  # (label, value) lines about where the evidence came from
    verification_ok: bool
    verification: list[str]
    events: list[dict[str, Any]]
    problems_by_event: dict[str, list[Problem]]
    keys: dict[str, tuple[str, str]]  # key_id -> (fingerprint, status)
    attachment_status: dict[str, str] = field(default_factory=dict)  # sha256 -> status
    scope: ReportScope = field(default_factory=ReportScope)
    # the reviewers' signed annotations on these events and their beliefs
    annotations: list[Annotation] = field(default_factory=list)
    # sha256 -> a preview (an image inline, a text's beginning), of verified bytes only
    previews: dict[str, str] = field(default_factory=dict)


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(
        value, ensure_ascii=False, sort_keys=True), quote=True)


def render(data: ReportData) -> str:
    out: list[str] = []
    w = out.append
    w("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">")
    w(f"<title>{_e(data.title)}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>{_e(data.title)}</h1>")
    w(f"<p>Chain-of-custody report for {_e(data.scope.describe())}, generated "
      f"{_e(utc_now_iso())} by provara-desktop {_e(__version__)}.</p>")
    w("<h2>Source</h2><table>")
    for label, value in data.source:
        w(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>")
    w("</table><h2>Verification</h2>")
    verdict = ("<span class=\"ok\">PASSED</span>" if data.verification_ok
               else "<span class=\"bad\">FAILED</span>")
    w(f"<p>Result: {verdict}</p><ul>")
    for line in data.verification:
        w(f"<li>{_e(line)}</li>")
    w("</ul><h2>Signers</h2><table><tr><th>key id</th><th>fingerprint</th><th>actors</th>"
      "<th>events</th><th>key status</th></tr>")
    signers: dict[str, tuple[set[str], int]] = {}
    for ev in data.events:
        kid = str(ev.get("actor_key_id"))
        actors, n = signers.get(kid, (set(), 0))
        actors.add(str(ev.get("actor")))
        signers[kid] = (actors, n + 1)
    for kid in sorted(signers):
        fp, status = data.keys.get(kid, ("(unknown key)", "unknown"))
        actors, n = signers[kid]
        w(f"<tr><td><code>{_e(kid)}</code></td><td><code>{_e(fp)}</code></td>"
          f"<td>{_e(', '.join(sorted(actors)))}</td><td>{n}</td><td>{_e(status)}</td></tr>")
    w(f"</table><h2>Events ({len(data.events)})</h2><table><tr><th>#</th><th>time (UTC)"
      "</th><th>event id / previous</th><th>type</th><th>actor</th><th>claim</th>"
      "<th>verification</th></tr>")
    for i, ev in enumerate(data.events, start=1):
        raw_payload = ev.get("payload")
        payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
        claim = ""
        if "subject" in payload or "predicate" in payload:
            claim = f"{payload.get('subject')}:{payload.get('predicate')} = "
            claim += json.dumps(payload.get("value"), ensure_ascii=False, sort_keys=True)
        if payload.get("note"):
            claim += f" (note: {payload.get('note')})"
        probs = data.problems_by_event.get(str(ev.get("event_id")), [])
        errors = [p for p in probs if p.severity == "error"]
        status = ("<span class=\"bad\">" + "<br>".join(_e(p.message) for p in errors)
                  + "</span>") if errors else "<span class=\"ok\">id, signature, chain ok</span>"
        w(f"<tr><td>{i}</td><td>{_e(ev.get('timestamp_utc'))}</td><td><code>"
          f"{_e(ev.get('event_id'))}</code><br>&#8592; <code>{_e(ev.get('prev_event_hash'))}"
          f"</code></td><td>{_e(ev.get('type'))}</td><td>{_e(ev.get('actor'))}<br><code>"
          f"{_e(ev.get('actor_key_id'))}</code></td><td>{_e(claim)}</td><td>{status}</td></tr>")
    w("</table>")
    atts = [(ev, ref) for ev in data.events for ref in attachment_refs(ev)]
    w(f"<h2>Attachments ({len(atts)})</h2>")
    if atts:
        w("<table><tr><th>name</th><th>type</th><th>bytes</th><th>sha256</th><th>event</th>"
          "<th>status</th><th>preview</th></tr>")
        for ev, ref in atts:
            st = data.attachment_status.get(ref["sha256"], "not checked")
            cls = "ok" if st.startswith("present") else "bad"
            w(f"<tr><td>{_e(ref.get('name'))}</td><td>{_e(ref.get('media_type'))}</td>"
              f"<td>{_e(ref.get('size'))}</td><td><code>{_e(ref['sha256'])}</code></td>"
              f"<td><code>{_e(ev.get('event_id'))}</code></td>"
              f"<td class=\"{cls}\">{_e(st)}</td>"
              f"<td>{data.previews.get(ref['sha256'], '')}</td></tr>")
        w("</table>")
    w(f"<h2>Annotations ({len(data.annotations)})</h2>")
    if data.annotations:
        w("<table><tr><th>time (UTC)</th><th>reviewer</th><th>on</th><th>kind</th>"
          "<th>tag, mark or comment</th><th>standing</th></tr>")
        for a in data.annotations:
            standing = ("withdrawn by " + (a.withdrawn_by or "") if a.withdrawn_by else
                        f"counts for nothing: {a.ignored}" if a.ignored else "in force")
            w(f"<tr><td>{_e(a.timestamp_utc)}</td><td>{_e(a.actor)}<br><code>"
              f"{_e(a.signer)}</code></td><td><code>{_e(a.target_text())}</code></td>"
              f"<td>{_e(a.kind)}</td><td>{_e(a.tag or a.mark or a.text or a.withdraws)}</td>"
              f"<td>{_e(standing)}</td></tr>")
        w("</table>")
    w("<p>Each event id is the SHA-256 of the event's canonical JSON; each signature is "
      "Ed25519 over the event's canonical JSON without its signature, checked against the "
      "signer's public key (its fingerprint is above). A change to any event, or any "
      "attachment, makes this verification fail.</p></body></html>\n")
    return "\n".join(out)


_INLINE_IMAGE = 512 << 10  # an image up to this size is shown in the report itself
_TEXT_PREVIEW = 2000  # characters of a text attachment quoted in the report
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _previews(root: Path, events: list[dict[str, Any]]) -> dict[str, str]:
    """HTML previews of the events' attachments, from bytes checked against their sha256
    now (store/attachment_files.py): an image inline, a text's beginning (escaped); one
    whose bytes do not match gets none."""
    out: dict[str, str] = {}
    for ev in events:
        for ref in attachment_refs(ev):
            sha, kind = ref["sha256"], str(ref.get("media_type") or "").split(";")[0].lower()
            if sha in out:
                continue
            c = attachment_files.check(root, sha)
            if not c.ok:
                continue
            if kind in _IMAGE_TYPES and c.size <= _INLINE_IMAGE:
                data = base64.b64encode(c.path.read_bytes()).decode("ascii")
                out[sha] = (f'<img alt="{_e(ref.get("name"))}" style="max-width:240px" '
                            f'src="data:{kind};base64,{data}">')
            elif kind.startswith("text/"):
                head, _ = attachment_files.head(root, sha, _TEXT_PREVIEW * 4)
                text = head.decode("utf-8", errors="replace")[:_TEXT_PREVIEW]
                more = "…" if c.size > len(text.encode()) else ""
                out[sha] = f"<pre>{html.escape(text)}{more}</pre>"
            elif kind == "application/pdf":
                out[sha] = "PDF (its pages: open the attachment in the app)"
    return out


def _annotations_on(found: list[Annotation], events: list[dict[str, Any]],
                    scope: ReportScope) -> list[Annotation]:
    """The annotations about what the report covers: its events, and the beliefs they
    speak of (a withdrawn one is listed too, and says so)."""
    ids = {str(ev.get("event_id")) for ev in events}
    beliefs = {f"{p.get('subject')}:{p.get('predicate')}" for ev in events
               if isinstance(p := ev.get("payload"), dict) and "subject" in p}
    return [a for a in found
            if a.target.get("event_id") in ids or a.target.get("belief") in beliefs
            or (scope.subject is None and scope.actor is None and "belief" in a.target)]


def _by_event(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        if p.event_id:
            out.setdefault(p.event_id, []).append(p)
    return out


def from_vault(vault: Vault, scope: ReportScope) -> ReportData:
    from provara_desktop.store.verify_vault import verify_vault

    report = verify_vault(vault)
    events = [ev for ev in vault.events() if scope.wants(ev)]
    ring = KeyRing.from_keys_json(vault.keys_doc)
    keys = {kid: (e.public.fingerprint if not e.entry_error else "(unusable entry)",
                  e.status) for kid, e in ring.entries.items()}
    problems = report.all_problems
    bad_att = {p.path.rsplit("/", 1)[-1]: p.message for p in problems
               if p.code.startswith("ATTACHMENT") and p.path}
    status = {ref["sha256"]: (f"MISSING OR DAMAGED: {bad_att[ref['sha256']]}"
                              if ref["sha256"] in bad_att else "present, sha256 verified")
              for ev in events for ref in attachment_refs(ev)}
    lines = [f"{report.log.event_count} events in the vault verified: ids, Ed25519 "
             f"signatures, per-actor chains, key status, total order",
             "files checked against manifest.json, merkle_root.txt and manifest.sig",
             f"{len(report.log.forks)} fork(s); {len(report.log.legacy_ids)} legacy event id(s)"]
    lines += [f"[{p.severity}] {p.code}: {p.message}" for p in problems]
    merkle = (vault.root / "merkle_root.txt").read_text("ascii", errors="replace").strip()
    return ReportData(
        title=f"Evidence report: vault {vault.uid}",
        source=[("vault", str(vault.root)), ("vault uid", vault.uid),
                ("merkle root", merkle), ("events in vault", str(report.log.event_count)),
                ("selection", scope.describe())],
        verification_ok=report.ok, verification=lines, events=events,
        problems_by_event=_by_event(problems), keys=keys, attachment_status=status,
        scope=scope, annotations=_annotations_on(folded(vault).all, events, scope),
        previews=_previews(vault.root, events))


def from_bundle(c: BundleCheck, scope: ReportScope) -> ReportData:
    b = c.batch.bundle
    events = [ev for ev in c.events if scope.wants(ev)]
    keys = {k.key_id: (k.fingerprint or "(unusable)",
                       "trusted: " + k.vouched_by if k.trusted else "NOT trusted by the reader")
            for k in c.keys}
    carried = b.carried_attachments()
    damaged = {p.path.rsplit("/", 1)[-1] for p in c.problems if p.code == "MEMBER_DAMAGED"
               and p.path}
    status = {ref["sha256"]: ("DAMAGED in the bundle" if ref["sha256"] in damaged else
                              "present in the bundle, sha256 verified"
                              if ref["sha256"] in carried else "not carried by the bundle")
              for ev in events for ref in attachment_refs(ev)}
    source = [("bundle", str(b.path)), ("format", b.kind)]
    if b.signer is not None:
        source += [("bundle signed by", f"{b.signer.actor} {b.signer.key_id}"),
                   ("signer fingerprint", b.signer.fingerprint),
                   ("signer trusted", "yes, " + str(c.signer_vouched_by)
                    if c.signer_trusted else "NO")]
    else:
        source.append(("bundle signature", "none (unsigned format)"))
    sv = b.manifest.get("source_vault")
    if isinstance(sv, dict):
        source.append(("exported from vault", str(sv.get("uid"))))
    source += [("created", str(b.manifest.get("created_at_utc"))),
               ("scope", json.dumps(b.scope, sort_keys=True)),
               ("selection", scope.describe())]
    lines = [f"{len(c.events)} events in the bundle verified: ids, Ed25519 signatures, "
             "chains within the bundle",
             "bundle signature and every member's sha256 checked" if b.signed else
             "unsigned file: only each event's own signature could be checked"]
    lines += [f"[{p.severity}] {p.code}: {p.message}" for p in c.problems]
    found = fold([a for ev in c.events if (a := read_annotation(ev)) is not None],
                 lambda x, y: x is not None and x == y)  # (rotations: the vault's view)
    return ReportData(title=f"Evidence report: bundle {b.path.name}", source=source,
                      verification_ok=c.intact, verification=lines, events=events,
                      problems_by_event=_by_event(c.problems), keys=keys,
                      attachment_status=status, scope=scope,
                      annotations=_annotations_on(found.all, events, scope))


def write(html_text: str, out: Path) -> None:
    """Write the report to ``out``; an existing file is never overwritten."""
    from provara_desktop.core.errors import StoreError, UsageError

    if out.exists():
        raise UsageError(f"{out}: already exists; choose another name (nothing is overwritten)")
    try:
        out.write_text(html_text, encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"{out}: cannot write ({exc.strerror})") from None
