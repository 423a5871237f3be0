"""Checkpoints, signed notes and witness cosignatures (core/checkpoint.py): the published
examples verify byte for byte, what we sign round-trips and verifies, any change to a byte
fails, unknown keys are ignored, and the strict parser names what it refuses."""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core import checkpoint as cp
from provara_desktop.core.checkpoint import (
    COSIGNATURE_V1_TYPE,
    ED25519_TYPE,
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    SignedNote,
    cosign,
    cosignature_message,
    key_id,
    sign_note,
    verify_cosignatures,
    verify_note,
)
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.tlog import leaf_hash, root

EM = "\u2014"
HUB_KEY = nacl.signing.SigningKey(b"\x01" * 32)
WITNESS_KEY = nacl.signing.SigningKey(b"\x02" * 32)
OTHER_KEY = nacl.signing.SigningKey(b"\x03" * 32)
HUB = NoteVerifier.for_key("provara.example/hub", HUB_KEY)
WITNESS = NoteVerifier.for_key("witness.example/w1", WITNESS_KEY, COSIGNATURE_V1_TYPE)
CHECKPOINT = Checkpoint("provara.example/hub", 5, root([leaf_hash(b"%d" % i) for i in range(5)]))
T0 = 1_700_000_000


def hub_note(cpt: Checkpoint = CHECKPOINT) -> SignedNote:
    body = cpt.body()
    return SignedNote.of(body, [sign_note(body, HUB.name, HUB_KEY)])


# -- published examples ----------------------------------------------------------------------

# C2SP signed-note, section "Example" (as quoted by several independent implementations of
# the spec, which cite it; the copy of the spec this was checked against stored only the
# format sections): a verifier key and the note it signs.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n"
             f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
             "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")

# The example of Go's golang.org/x/mod/sumdb/note package documentation and tests: a private
# key (type byte 0x01, then the 32-byte Ed25519 seed), the verifier keys of two signers, and
# their signatures of the same text.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_PETER_LINE = (f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFY"
                 "C2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=")
GO_ENOCH_LINE = (f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aG"
                 "rQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=")

# A real checkpoint of the arche2025h1.staging.ct.transparency.dev log, as a test suite of
# an independent C2SP implementation (tlog_scales) stores it: the log's own Ed25519 line, an
# RFC 6962 tree-head line (type 0x05) under the same name with another key ID, and witness
# cosignatures, among them remora.n621.de's tlog-cosignature/v1 (its key as its operator
# publishes it). Not a spec vector, but a cosignature made by someone else's code.
ARCHE_LOG = ("arche2025h1.staging.ct.transparency.dev+ba2f06c0+"
             "AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f")
REMORA = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
ARCHE_NOTE = f"""arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

{EM} arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
{EM} arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
{EM} transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
{EM} witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
{EM} remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
{EM} witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
"""  # noqa: E501 - published values, kept whole


def test_spec_example_note_verifies() -> None:
    verifier = NoteVerifier.from_vkey(SPEC_VKEY)
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.vkey == SPEC_VKEY
    note = SignedNote.parse(SPEC_NOTE)
    assert note.body == b"This is an example message.\n"
    assert note.to_text() == SPEC_NOTE
    assert verify_note(note, [verifier]) == ("example.com/foo",)


def test_go_note_example_signs_and_verifies_byte_for_byte() -> None:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == ED25519_TYPE
    key = nacl.signing.SigningKey(raw[1:])
    peter, enoch = NoteVerifier.from_vkey(GO_PETER), NoteVerifier.from_vkey(GO_ENOCH)
    assert peter == NoteVerifier.for_key("PeterNeumann", key)
    # Ed25519 is deterministic: our signature line is the published one.
    assert sign_note(GO_TEXT.encode(), "PeterNeumann", key) == GO_PETER_LINE
    assert sign_note(GO_TEXT.encode(), "PeterNeumann", SigningKey(raw[1:])) == GO_PETER_LINE
    text = f"{GO_TEXT}\n{GO_PETER_LINE}\n{GO_ENOCH_LINE}\n"
    note = SignedNote.parse(text)
    assert note.to_text() == text
    assert verify_note(note, [peter, enoch]) == ("PeterNeumann", "EnochRoot")
    # A key we do not know is ignored, not held against the note.
    assert verify_note(note, [enoch]) == ("EnochRoot",)
    assert verify_note(note, [HUB]) == ()


def test_real_checkpoint_and_its_witness_cosignature_verify() -> None:
    log, remora = NoteVerifier.from_vkey(ARCHE_LOG), NoteVerifier.from_vkey(REMORA)
    assert remora.key_type == COSIGNATURE_V1_TYPE
    note = SignedNote.parse(ARCHE_NOTE)
    assert note.to_text() == ARCHE_NOTE
    head = Checkpoint.parse_body(note.body)
    assert (head.origin, head.size, head.extensions) == (
        "arche2025h1.staging.ct.transparency.dev", 1432088532, ())
    assert head.root == base64.b64decode("U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=")
    assert head.body() == note.body
    # The 0x05 line shares the log's name but not its key ID: ignored, as the spec says.
    assert verify_note(note, [log]) == ("arche2025h1.staging.ct.transparency.dev",)
    assert verify_cosignatures(note, [remora]) == (("remora.n621.de", 1779573024),)
    assert verify_note(note, [log, remora]) == (log.name, remora.name)
    moved = Checkpoint(head.origin, head.size + 1, head.root).body()
    assert verify_note(SignedNote(moved, note.signatures), [log, remora]) == ()


# -- key IDs and verifier keys ---------------------------------------------------------------


def test_key_id_is_the_spec_formula() -> None:
    public = bytes(HUB_KEY.verify_key)
    want = hashlib.sha256(b"provara.example/hub\n\x01" + public).digest()[:4]
    assert key_id("provara.example/hub", ED25519_TYPE, public) == want == HUB.key_id
    # The same key as a cosigner has another ID: a cosignature never passes for a signature.
    assert key_id("provara.example/hub", COSIGNATURE_V1_TYPE, public) != want


def test_vkey_round_trip_and_refusals() -> None:
    for verifier in (HUB, WITNESS):
        assert NoteVerifier.from_vkey(verifier.vkey) == verifier
    name, hex_id, blob = SPEC_VKEY.split("+", 2)
    odd_type = base64.b64encode(b"\x09" + b"k" * 32).decode()
    short_key = base64.b64encode(b"\x01" + b"k" * 31).decode()
    cases = [
        ("example.com/foo", "verifier key is"),
        (f"{name}+{hex_id}", "verifier key is"),
        (f"{name}+530D903A+{blob}", "8 lowercase hex"),
        (f"{name}+530d903b+{blob}", "does not match"),
        (f"other.example+{hex_id}+{blob}", "does not match"),
        (f"{name}+{hex_id}+{blob[:-1]}", "base64"),
        (f"{name}+{hex_id}+{blob[:-4]}", "30 bytes, not a type byte and a 32-byte"),
        (f"{name}+{hex_id}+{odd_type}", "0x01, 0x04"),
        (f"{name}+{hex_id}+{short_key}", "32-byte"),
        (f"a b+{hex_id}+{blob}", "space"),
    ]
    for text, message in cases:
        with pytest.raises(ValueError, match=message):
            NoteVerifier.from_vkey(text)


def test_key_name_rules() -> None:
    for good in ("example.com/log42", "a", "oid/1.3.6.1.4.1", "ünïcödé/名前"):
        cp.check_key_name(good)
    for bad, message in [("", "non-empty"), ("a b", "space"), ("a+b", "plus sign"),
                         ("a\nb", "space or line break"), ("a\u00a0b", "space"),
                         ("a\u3000b", "space"), ("a\tb", "space"), ("a\x01b", "control")]:
        with pytest.raises(ValueError, match=message):
            cp.check_key_name(bad)
        with pytest.raises(ValueError, match=message):
            sign_note(b"text\n", bad, HUB_KEY)
        with pytest.raises(ValueError, match=message):
            NoteVerifier(bad, bytes(32))


# -- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_body_is_the_c2sp_text() -> None:
    head = Checkpoint("example.com/behind-the-sofa", 20852163,
                      base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
    # The example of C2SP tlog-checkpoint, line for line.
    assert head.body() == (b"example.com/behind-the-sofa\n20852163\n"
                           b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    assert Checkpoint.parse_body(head.body()) == head


def test_checkpoint_round_trip_with_extensions_and_empty_tree() -> None:
    for head in (CHECKPOINT,
                 Checkpoint("o", 0, root([])),
                 Checkpoint("hub/x", (1 << 64) - 1, b"\xff" * 32, ("frontier sha256:ab", "x"))):
        assert Checkpoint.parse_body(head.body()) == head
        assert Checkpoint.parse_body(head.body().decode()) == head


def test_checkpoint_parser_refusals() -> None:
    r = base64.b64encode(b"\x00" * 32).decode()
    cases = [
        (f"o\n5\n{r}", "newline"),
        ("o\n5\n", "at least three"),
        (f"o\n5\n{r}\n\next\n", "line 4 is empty"),
        (f"\n5\n{r}\n", "line 1 is empty"),
        (f"o\n05\n{r}\n", "leading zeros"),
        (f"o\n+5\n{r}\n", "tree size"),
        (f"o\n-5\n{r}\n", "tree size"),
        (f"o\n 5\n{r}\n", "tree size"),
        (f"o\n\uff15\n{r}\n", "tree size"),  # a fullwidth digit: int() would take it
        (f"o\n{1 << 64}\n{r}\n", "tree size"),
        (f"o\n{'9' * 5000}\n{r}\n", "tree size"),
        (f"o\n5\n{r[:-4]}\n", "32"),
        (f"o\n5\n{base64.b64encode(b'x' * 33).decode()}\n", "33 bytes"),
        (f"o\n5\n{r[:-1]}\n", "base64"),
        (f"o\n5\n{r[:-2]}B=\n", "canonical"),
        (f"o\n5\n{r}\t\n", r"U\+0009"),
        (f"o\r\n5\n{r}\n", r"U\+000D"),
    ]
    for text, message in cases:
        with pytest.raises(ValueError, match=message):
            Checkpoint.parse_body(text)
    with pytest.raises(ValueError, match="UTF-8"):
        Checkpoint.parse_body(b"\xff\n5\n" + r.encode() + b"\n")


def test_checkpoint_constructor_refusals() -> None:
    good = bytes(32)
    for args, message in [
        (("", 1, good), "origin"),
        (("a\nb", 1, good), "newline"),
        (("o", -1, good), "tree size"),
        (("o", True, good), "tree size"),
        (("o", 1 << 64, good), "tree size"),
        (("o", 1, good[:31]), "32 bytes"),
        (("o", 1, good, ("",)), "extension"),
        (("o", 1, good, ("a\nb",)), "newline"),
    ]:
        with pytest.raises(ValueError, match=message):
            Checkpoint(*args)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple"):
        Checkpoint("o", 1, good, ["ext"])  # type: ignore[arg-type]


# -- signing and verifying -------------------------------------------------------------------


def test_signed_checkpoint_round_trip() -> None:
    note = hub_note()
    text = note.to_text()
    assert text == CHECKPOINT.body().decode() + "\n" + note.signatures[0].line + "\n"
    assert note.signatures[0].line.startswith(f"{EM} provara.example/hub ")
    again = SignedNote.parse(text)
    assert again == note
    assert SignedNote.parse(note.to_bytes()) == note
    assert Checkpoint.parse_body(again.body) == CHECKPOINT
    assert verify_note(again, [HUB]) == (HUB.name,)


def test_a_changed_body_or_signature_fails() -> None:
    note = hub_note()
    body = bytearray(note.body)
    body[len(CHECKPOINT.origin) + 1] ^= 0x01  # the size's digit: 5 becomes 4
    assert verify_note(SignedNote(bytes(body), note.signatures), [HUB]) == ()
    sig = note.signatures[0]
    for i in range(len(sig.signature)):
        bad = bytearray(sig.signature)
        bad[i] ^= 0x80
        forged = NoteSignature(sig.name, sig.key_id, bytes(bad))
        assert verify_note(SignedNote(note.body, (forged,)), [HUB]) == ()
    truncated = NoteSignature(sig.name, sig.key_id, sig.signature[:-1])
    assert verify_note(SignedNote(note.body, (truncated,)), [HUB]) == ()


def test_a_wrong_name_or_key_is_not_a_signature() -> None:
    note = hub_note()
    assert verify_note(note, [NoteVerifier("provara.example/other", HUB.public_key)]) == ()
    assert verify_note(note, [NoteVerifier.for_key(HUB.name, OTHER_KEY)]) == ()
    # The right key, but as a cosigner: another key ID, so the line is not its.
    assert verify_note(note, [NoteVerifier(HUB.name, HUB.public_key, COSIGNATURE_V1_TYPE)]) == ()
    # Signed by another key under the hub's name: an unknown key, ignored.
    impostor = SignedNote.of(note.body, [sign_note(note.body, HUB.name, OTHER_KEY)])
    assert verify_note(impostor, [HUB]) == ()


def test_unknown_keys_are_ignored_but_a_bad_known_signature_sinks_the_note() -> None:
    note = hub_note()
    stranger = sign_note(note.body, "stranger.example", OTHER_KEY)
    garbage = _line("someone.else", b"abcd" + b"x" * 64)
    same_name = _line(HUB.name, bytes(4) + b"x" * 64)  # a known name, an unknown key ID
    crowded = note.with_signatures(stranger, garbage, same_name)
    assert verify_note(crowded, [HUB]) == (HUB.name,)
    sig = note.signatures[0]
    broken = NoteSignature(sig.name, sig.key_id, bytes(64))
    # A bad signature from a key we know: the whole note is refused, the good one too.
    stranger_verifier = NoteVerifier.for_key("stranger.example", OTHER_KEY)
    assert verify_note(note.with_signatures(broken), [HUB]) == ()
    assert verify_note(crowded.with_signatures(broken), [HUB, stranger_verifier]) == ()
    assert verify_note(crowded, [HUB, stranger_verifier]) == (HUB.name, "stranger.example")


def test_duplicate_signatures_count_once_and_ambiguous_verifiers_are_refused() -> None:
    note = hub_note()
    doubled = note.with_signatures(note.signatures[0])
    assert verify_note(doubled, [HUB, HUB]) == (HUB.name,)
    clash = NoteVerifier(HUB.name, bytes(OTHER_KEY.verify_key))
    assert clash.key_id != HUB.key_id
    assert verify_note(note, [HUB, clash]) == (HUB.name,)
    # Two different keys that share a name and key ID cannot be told apart. (A real pair
    # takes some 2^32 tries to find; a subclass that claims the hub's ID stands in.)

    class Colliding(NoteVerifier):
        @property
        def key_id(self) -> bytes:
            return HUB.key_id

    with pytest.raises(ValueError, match="cannot be told"):
        verify_note(note, [HUB, Colliding(HUB.name, bytes(OTHER_KEY.verify_key))])


# -- the strict parser -----------------------------------------------------------------------


def _line(name: str = "k", payload: bytes = b"\x00" * 68) -> str:
    return f"{EM} {name} {base64.b64encode(payload).decode()}"


def test_note_parser_refusals() -> None:
    sig = _line()
    cases: list[tuple[str | bytes, str]] = [
        ("x" * (cp.MAX_NOTE_BYTES + 1), "larger than"),
        (b"x\n\n" + b"y" * cp.MAX_NOTE_BYTES, "larger than"),
        ("text\n\n" + "".join(_line(f"k{i}") + "\n" for i in range(101)), "more than the 100"),
        (f"text\n{sig}\n", "no blank line"),
        (f"text\n\n{sig}", "does not end in a newline"),
        ("text\n\n", "no signature lines"),
        (b"\xc3\x28text\n\n" + sig.encode() + b"\n", "not valid UTF-8"),
        ("text\ud800\n\n" + sig + "\n", "not valid UTF-8"),
        (f"te\txt\n\n{sig}\n", r"U\+0009"),
        (f"text\r\n\r\n{sig}\r\n", r"U\+000D"),
        (f"text\n\n- k {sig.split()[-1]}\n", "em dash"),
        (f"text\n\n{EM}k {sig.split()[-1]}\n", "em dash"),
        (f"text\n\n{EM} k\n", "a key name, a space and a signature"),
        (f"text\n\n{EM} key name {sig.split()[-1]}\n", "cannot contain spaces"),
        (f"text\n\n{EM} a+b {sig.split()[-1]}\n", "plus sign"),
        (f"text\n\n{EM}  {sig.split()[-1]}\n", "non-empty"),
        (f"text\n\n{EM} k !!!!\n", "base64"),
        (f"text\n\n{EM} k {sig.split()[-1][:-1]}\n", "base64"),
        (f"text\n\n{EM} k AAAA\n", "too short"),
        (f"text\n\n{EM} k AAAAAB==\n", "canonical"),
        (f"text\n\n{sig}\n\n", "no signature lines"),
        (f"text\n\n{sig}\n{EM} k\n", "signature line 2"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            SignedNote.parse(data)


def test_note_limits_are_inclusive() -> None:
    lines = [_line(f"k{i}") for i in range(cp.MAX_SIGNATURES)]
    note = SignedNote.parse("text\n\n" + "".join(line + "\n" for line in lines))
    assert len(note.signatures) == cp.MAX_SIGNATURES
    body = b"x" * (cp.MAX_NOTE_BYTES - len(lines[0].encode()) - 3) + b"\n"
    text = body + b"\n" + lines[0].encode() + b"\n"
    assert len(text) == cp.MAX_NOTE_BYTES
    assert SignedNote.parse(text).body == body


def test_note_text_may_hold_blank_lines() -> None:
    body = b"first\n\nsecond\n\n\nthird\n"
    note = SignedNote.of(body, [sign_note(body, HUB.name, HUB_KEY)])
    assert SignedNote.parse(note.to_text()) == note
    assert verify_note(SignedNote.parse(note.to_text()), [HUB]) == (HUB.name,)


def test_what_is_signed_must_be_a_text() -> None:
    for body, message in [(b"no newline", "newline"), (b"", "newline"),
                          (b"tab\there\n", r"U\+0009"), (b"\xff\n", "UTF-8"),
                          (b"x" * cp.MAX_NOTE_BYTES + b"\n", "larger than")]:
        with pytest.raises(ValueError, match=message):
            sign_note(body, "k", HUB_KEY)
        with pytest.raises(ValueError, match=message):
            SignedNote(body, (NoteSignature("k", b"1234", b"s"),))
    with pytest.raises(TypeError, match="bytes"):
        sign_note("text\n", "k", HUB_KEY)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="signing key"):
        sign_note(b"text\n", "k", b"\x01" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="from 1 to 100"):
        SignedNote(b"text\n", ())
    with pytest.raises(ValueError, match="tuple of NoteSignature"):
        SignedNote(b"text\n", [NoteSignature("k", b"1234", b"s")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than"):
        SignedNote(b"x" * (cp.MAX_NOTE_BYTES - 10) + b"\n",
                   (NoteSignature("k", b"1234", b"s" * 64),))


# -- witness cosignatures --------------------------------------------------------------------


def test_cosignature_round_trip() -> None:
    note = hub_note()
    line = cosign(note.body, WITNESS.name, WITNESS_KEY, T0)
    cosigned = SignedNote.parse(note.with_signatures(line).to_text())
    assert verify_cosignatures(cosigned, [WITNESS]) == ((WITNESS.name, T0),)
    assert verify_note(cosigned, [HUB, WITNESS]) == (HUB.name, WITNESS.name)
    assert verify_note(cosigned, [HUB]) == (HUB.name,)
    # The wire layout: key ID, 8-byte big-endian time, the Ed25519 signature of the message.
    raw = base64.b64decode(line.split(" ")[-1])
    assert raw[:4] == WITNESS.key_id
    assert int.from_bytes(raw[4:12], "big") == T0
    message = cosignature_message(note.body, T0)
    assert message == b"cosignature/v1\ntime 1700000000\n" + note.body
    nacl.signing.VerifyKey(WITNESS.public_key).verify(message, raw[12:])
    # Our own key type works the same.
    assert cosign(note.body, WITNESS.name, SigningKey(b"\x02" * 32), T0) == line


def test_a_tampered_cosignature_time_fails() -> None:
    note = hub_note()
    sig = NoteSignature.parse_line(cosign(note.body, WITNESS.name, WITNESS_KEY, T0))
    for moved in (T0 + 1, T0 - 1, 0, cp.MAX_TIMESTAMP):
        forged = NoteSignature(sig.name, sig.key_id,
                               moved.to_bytes(8, "big") + sig.signature[8:])
        assert verify_cosignatures(note.with_signatures(forged), [WITNESS]) == ()
    too_late = NoteSignature(sig.name, sig.key_id, (1 << 63).to_bytes(8, "big")
                             + sig.signature[8:])
    assert verify_cosignatures(note.with_signatures(too_late), [WITNESS]) == ()
    short = NoteSignature(sig.name, sig.key_id, sig.signature[8:])
    assert verify_cosignatures(note.with_signatures(short), [WITNESS]) == ()


def test_a_cosignature_time_past_the_spec_limit_fails_even_when_signed() -> None:
    note = hub_note()
    late = 1 << 63  # the spec caps the time at 2^63 - 1
    signature = WITNESS_KEY.sign(cosignature_message(note.body, late)).signature
    line = NoteSignature(WITNESS.name, WITNESS.key_id, late.to_bytes(8, "big") + signature)
    assert verify_cosignatures(note.with_signatures(line), [WITNESS]) == ()


def test_a_witness_that_cosigns_twice_counts_once_at_its_first_time() -> None:
    note = hub_note()
    first = cosign(note.body, WITNESS.name, WITNESS_KEY, T0)
    second = cosign(note.body, WITNESS.name, WITNESS_KEY, T0 + 60)
    assert verify_cosignatures(note.with_signatures(first, second), [WITNESS]) == (
        (WITNESS.name, T0),)


def test_a_cosignature_covers_the_whole_checkpoint() -> None:
    head = Checkpoint(CHECKPOINT.origin, CHECKPOINT.size, CHECKPOINT.root, ("ext one",))
    line = cosign(head.body(), WITNESS.name, WITNESS_KEY, T0)
    good = SignedNote.of(head.body(), [line])
    assert verify_cosignatures(good, [WITNESS]) == ((WITNESS.name, T0),)
    for other in (Checkpoint(head.origin, head.size, head.root, ("ext two",)),
                  Checkpoint(head.origin, head.size + 1, head.root, head.extensions),
                  Checkpoint("provara.example/other", head.size, head.root, head.extensions)):
        assert verify_cosignatures(SignedNote.of(other.body(), [line]), [WITNESS]) == ()


def test_plain_signatures_and_cosignatures_do_not_mix() -> None:
    note = hub_note()
    plain = NoteVerifier(WITNESS.name, WITNESS.public_key, ED25519_TYPE)
    cosigned = note.with_signatures(cosign(note.body, WITNESS.name, WITNESS_KEY, T0))
    assert verify_note(cosigned, [plain]) == ()  # a cosignature is not a plain signature
    signed = note.with_signatures(sign_note(note.body, WITNESS.name, WITNESS_KEY))
    assert verify_cosignatures(signed, [WITNESS]) == ()  # nor the other way round
    with pytest.raises(ValueError, match="not a cosigner key"):
        verify_cosignatures(cosigned, [HUB])


def test_cosign_refusals() -> None:
    body = CHECKPOINT.body()
    for timestamp in (-1, 1 << 63, True, 1.5):
        with pytest.raises(ValueError, match="cosignature time"):
            cosign(body, WITNESS.name, WITNESS_KEY, timestamp)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least three"):
        cosign(b"not a checkpoint\n", WITNESS.name, WITNESS_KEY, T0)
    with pytest.raises(ValueError, match="plus sign"):
        cosign(body, "w+1", WITNESS_KEY, T0)
    assert cosign(body, WITNESS.name, WITNESS_KEY, cp.MAX_TIMESTAMP)


# -- properties ------------------------------------------------------------------------------

# Origins that are also valid key names (the hub signs under its origin): no spaces, no plus.
_ORIGIN = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="+",
                                exclude_categories=("Zs", "Cc")), min_size=1, max_size=30)
_EXTENSION = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1,
                     max_size=30)


@settings(max_examples=200, deadline=None)
@given(_ORIGIN, st.integers(0, (1 << 64) - 1), st.binary(min_size=32, max_size=32),
       st.lists(_EXTENSION, max_size=3), st.integers(0, cp.MAX_TIMESTAMP))
def test_any_checkpoint_round_trips_signed_and_cosigned(
    origin: str, size: int, head_root: bytes, extensions: list[str], timestamp: int
) -> None:
    head = Checkpoint(origin, size, head_root, tuple(extensions))
    body = head.body()
    assert Checkpoint.parse_body(body) == head
    note = SignedNote.of(body, [sign_note(body, origin, HUB_KEY),
                                cosign(body, WITNESS.name, WITNESS_KEY, timestamp)])
    again = SignedNote.parse(note.to_bytes())
    assert again == note
    hub = NoteVerifier.for_key(origin, HUB_KEY)
    assert verify_note(again, [hub, WITNESS]) == (origin, WITNESS.name)
    assert verify_cosignatures(again, [WITNESS]) == ((WITNESS.name, timestamp),)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_byte_is_refused_or_fails(data: st.DataObject) -> None:
    note = hub_note().with_signatures(cosign(CHECKPOINT.body(), WITNESS.name, WITNESS_KEY, T0))
    raw = bytearray(note.to_bytes())
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    try:
        changed = SignedNote.parse(bytes(raw))
    except ValueError:
        return  # refused by the parser: fine
    assert verify_note(changed, [HUB, WITNESS]) != (HUB.name, WITNESS.name)
    assert verify_cosignatures(changed, [WITNESS]) in ((), ((WITNESS.name, T0),))
    if changed.body != note.body:
        assert verify_note(changed, [HUB]) == ()
        assert verify_cosignatures(changed, [WITNESS]) == ()
