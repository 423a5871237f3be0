"""Generate large, valid Provara vaults for benchmarks.

``generate(path, n_events, home=...)`` writes a real vault: ``Vault.init`` with actor 0's key,
then ``n_events - 2`` more events (the log holds exactly ``n_events`` lines: init writes
GENESIS and the seed OBSERVATION) signed by ``actors`` different keys, each actor with its own
chain (prev_event_hash, ts_logical). Most events are OBSERVATIONs with conflicting values and
confidences on ``hot_keys`` subject:predicate keys, so many keys end up contested (this is
what makes the reference reducer quadratic); the rest are one-off observations, ATTESTATIONs
and RETRACTIONs on hot keys. Timestamps increase strictly, so the vault's total order is the
generation order.

For speed the events are not appended one by one: they are built in order (rule-A ids), signed
on a small process pool, and written to events.ndjson in big chunks; then every actor's key is
added to identity/keys.json and manifest.json / merkle_root.txt / manifest.sig are written
afresh with the store's own helpers; ``Vault.open`` then builds the SQLite index. The bytes of
every event are exactly what :func:`provara_desktop.core.event.build_event` produces for the
same fields (tests/bench/test_gen_vault.py checks this).

``cached(...)`` keeps generated vaults under ``./bench-data/`` (gitignored), keyed by the
parameters, so reruns reuse them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.bindings

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.keys import SigningKey
from provara_desktop.store import layout
from provara_desktop.store.identity import actor_label_for
from provara_desktop.store.manifest import (
    entry_for,
    manifest_bytes,
    manifest_doc,
    manifest_sig_bytes,
    merkle_bytes,
    merkle_root,
    walk_files,
)
from provara_desktop.store.vault import Vault

# Bump when the generated content changes, so stale caches are not reused.
GENERATOR_VERSION = 1
DEFAULT_CACHE_DIR = Path("bench-data")

PREDICATES = ("location", "status", "custodian", "condition", "owner")
VALUES: dict[str, tuple[str, ...]] = {
    "location": ("evidence-locker-1", "evidence-locker-2", "forensics-lab", "courtroom-3",
                 "transport-van"),
    "status": ("sealed", "opened", "under-analysis", "released"),
    "custodian": ("det. alvarez", "det. brooks", "lab tech chen", "clerk dumont"),
    "condition": ("intact", "damaged", "partially-burned"),
    "owner": ("unknown", "suspect", "victim", "third party"),
}
CONFIDENCES = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
NOTES = ("seen on the bodycam footage", "per the chain-of-custody form",
         "confirmed by phone", "from the intake log", "visual inspection")

# Share of generated events by type (the rest are observations).
P_ATTESTATION = 0.04
P_RETRACTION = 0.01
P_HOT = 0.85  # share of observations that hit one of the hot keys

_CHUNK = 4000  # events per signing task


@dataclass
class GeneratedVault:
    path: Path
    home: Path
    n_events: int  # lines in events.ndjson, GENESIS and the init seed event included
    actors: list[str]  # actor labels; actor i signs with key_seeds[i]
    key_seeds_hex: list[str]
    uid: str
    params: dict[str, Any] = field(default_factory=dict)
    generate_seconds: float = 0.0
    index_seconds: float = 0.0

    def keys(self) -> list[SigningKey]:
        return [SigningKey(bytes.fromhex(s)) for s in self.key_seeds_hex]

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["path"], doc["home"] = str(self.path), str(self.home)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GeneratedVault:
        return cls(**{**doc, "path": Path(doc["path"]), "home": Path(doc["home"])})


def key_seed(seed: int, actor: int) -> bytes:
    return hashlib.sha256(f"provara-bench:{seed}:actor:{actor}".encode()).digest()


def actor_label(i: int, key: SigningKey) -> str:
    """The label an identity named ``bench<i>`` gets (so the CLI can append to its chain)."""
    return actor_label_for(f"bench{i}", key.key_id)


# -- signing workers ---------------------------------------------------------------------------

_WORKER_SKS: list[bytes] = []


def _init_worker(seeds: list[bytes]) -> None:
    global _WORKER_SKS
    _WORKER_SKS = [nacl.bindings.crypto_sign_seed_keypair(s)[1] for s in seeds]


def _sign_chunk(items: list[tuple[int, bytes, int]]) -> bytes:
    """Sign each message and splice ``"sig"`` into it: the signed message is canonical(event
    minus sig), and "sig" sorts just before the ``suffix_len`` trailing bytes
    (``,"timestamp_utc":..,"ts_logical":..,"type":..}``)."""
    sks = _WORKER_SKS
    sign = nacl.bindings.crypto_sign
    b64 = base64.b64encode
    out = []
    for actor, msg, suffix_len in items:
        sig = sign(msg, sks[actor])[:64]
        cut = len(msg) - suffix_len
        out.append(b"".join((msg[:cut], b',"sig":"', b64(sig), b'"', msg[cut:], b"\n")))
    return b"".join(out)


# -- event stream ------------------------------------------------------------------------------

def _iso(dt: datetime) -> str:
    return dt.isoformat()


class _Builder:
    """Builds the events in order: rule-A id and signed message, but no signature yet."""

    def __init__(self, keys: list[SigningKey], labels: list[str], rng: random.Random,
                 hot_keys: int, start: datetime, actor0_head: str, actor0_ts: int) -> None:
        self.keys, self.labels, self.rng = keys, labels, rng
        self.key_ids = [k.key_id for k in keys]
        self.hot = [(f"exhibit-{j // len(PREDICATES):04d}", PREDICATES[j % len(PREDICATES)])
                    for j in range(max(1, hot_keys))]
        self.heads: list[str | None] = [None] * len(keys)
        self.ts_logical = [0] * len(keys)
        self.heads[0], self.ts_logical[0] = actor0_head, actor0_ts
        # canonical prefix {"actor":..,"actor_key_id":".." : event_id sorts right after it
        self.prefix_len = [len(canonical_bytes({"actor": lab, "actor_key_id": k.key_id})) - 1
                           for lab, k in zip(labels, keys, strict=True)]
        self.last_obs: dict[int, str] = {}  # hot key -> last observation id (attest target)
        self.start = start
        self.i = 0
        self.cold = 0

    def payload(self, actor: int) -> tuple[str, str, dict[str, Any], int]:
        rng = self.rng
        r = rng.random()
        if r < P_ATTESTATION:
            j = rng.randrange(len(self.hot))
            subject, predicate = self.hot[j]
            payload = {"subject": subject, "predicate": predicate,
                       "value": rng.choice(VALUES[predicate]),
                       "actor_key_id": self.key_ids[actor]}
            target = self.last_obs.get(j)
            if target is not None:
                payload["target_event_id"] = target
                payload["target_event_ids"] = [target]
            return "ATTESTATION", "canonical", payload, -1
        if r < P_ATTESTATION + P_RETRACTION:
            subject, predicate = self.hot[rng.randrange(len(self.hot))]
            return "RETRACTION", "canonical", {"subject": subject, "predicate": predicate,
                                               "reason": "superseded by lab report"}, -1
        if rng.random() < P_HOT:
            j = rng.randrange(len(self.hot))
            subject, predicate = self.hot[j]
            payload = {"subject": subject, "predicate": predicate,
                       "value": rng.choice(VALUES[predicate]),
                       "confidence": rng.choice(CONFIDENCES)}
        else:
            j = -1
            self.cold += 1
            payload = {"subject": f"item-{self.cold:07d}", "predicate": "description",
                       "value": f"bag {rng.randrange(10**6):06d}, {rng.choice(NOTES)}",
                       "confidence": rng.choice(CONFIDENCES)}
        if rng.random() < 0.3:
            payload["note"] = rng.choice(NOTES)
        return "OBSERVATION", "local", payload, j

    def next(self) -> tuple[int, bytes, int]:
        """(actor index, signed message, length of the bytes that follow "sig")."""
        rng = self.rng
        actor = rng.randrange(len(self.keys))
        etype, namespace, payload, hot_j = self.payload(actor)
        self.ts_logical[actor] += 1
        ts = _iso(self.start + timedelta(microseconds=self.i))
        self.i += 1
        body = {"type": etype, "actor": self.labels[actor],
                "actor_key_id": self.key_ids[actor], "payload": payload,
                "prev_event_hash": self.heads[actor], "timestamp_utc": ts,
                "namespace": namespace, "ts_logical": self.ts_logical[actor]}
        pre = canonical_bytes(body)  # the rule-A id preimage (no event_id, no sig)
        eid = "evt_" + hashlib.sha256(pre).hexdigest()[:24]
        cut = self.prefix_len[actor]
        msg = b"".join((pre[:cut], b',"event_id":"', eid.encode(), b'"', pre[cut:]))
        # ts and etype are plain ASCII without quotes or backslashes: no escaping needed
        suffix = f',"timestamp_utc":"{ts}","ts_logical":{self.ts_logical[actor]},' \
                 f'"type":"{etype}"}}'.encode()
        assert msg.endswith(suffix)
        self.heads[actor] = eid
        if hot_j >= 0:
            self.last_obs[hot_j] = eid
        return actor, msg, len(suffix)


# -- the vault ---------------------------------------------------------------------------------

def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def generate(path: Path, n_events: int, *, actors: int = 8, hot_keys: int = 50,
             seed: int = 1337, home: Path, workers: int | None = None,
             build_index: bool = True) -> GeneratedVault:
    """Write a valid vault of ``n_events`` events at ``path`` (which must not exist or be
    empty) and index it under ``home``. ``workers``: signing processes (default 2, or 0, i.e.
    inline, for small vaults)."""
    if n_events < 2:
        raise ValueError("a vault holds at least its GENESIS and seed events (n_events >= 2)")
    if actors < 1:
        raise ValueError("actors must be >= 1")
    started = time.perf_counter()
    path = Path(path).absolute()
    home = Path(home).absolute()
    keys = [SigningKey(key_seed(seed, i)) for i in range(actors)]
    labels = [actor_label(i, k) for i, k in enumerate(keys)]
    uid = str(uuid.UUID(bytes=hashlib.sha256(f"provara-bench-uid:{seed}:{n_events}".encode())
                        .digest()[:16], version=4))
    vault = Vault.init(path, key=keys[0], actor=labels[0], home=home, uid=uid)
    vault.close()
    root = path
    events_path = root / layout.EVENTS
    init_lines = events_path.read_bytes().splitlines()
    init_events = [json.loads(x) for x in init_lines]
    last = init_events[-1]
    start = datetime.fromisoformat(last["timestamp_utc"]) + timedelta(milliseconds=1)
    builder = _Builder(keys, labels, random.Random(seed), hot_keys, start,
                       actor0_head=last["event_id"], actor0_ts=int(last["ts_logical"]))

    remaining = n_events - len(init_events)
    if workers is None:
        workers = 2 if remaining >= 20_000 else 0
    with events_path.open("ab") as out:
        if workers <= 0:
            _init_worker([key_seed(seed, i) for i in range(actors)])
            while remaining > 0:
                n = min(_CHUNK, remaining)
                out.write(_sign_chunk([builder.next() for _ in range(n)]))
                remaining -= n
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            with ctx.Pool(workers, initializer=_init_worker,
                          initargs=([key_seed(seed, i) for i in range(actors)],)) as pool:
                pending: deque[Any] = deque()
                while remaining > 0:
                    n = min(_CHUNK, remaining)
                    pending.append(pool.apply_async(_sign_chunk,
                                                    ([builder.next() for _ in range(n)],)))
                    remaining -= n
                    while len(pending) > 3 * workers:
                        out.write(pending.popleft().get())
                while pending:
                    out.write(pending.popleft().get())
        out.flush()
        os.fsync(out.fileno())

    # every actor's public key, in the reference keys.json format
    keys_path = root / layout.KEYS
    keys_doc = json.loads(keys_path.read_bytes())
    birth = init_events[0]["payload"]["birth_timestamp"]
    known = {k["key_id"] for k in keys_doc["keys"]}
    for k in keys[1:]:
        if k.key_id not in known:
            keys_doc["keys"].append(layout.key_entry(k.key_id, k.public.b64, birth,
                                                     roles=["attestation"]))
    _write_durably(keys_path, layout.pretty_json(keys_doc))

    # manifest, merkle root and manifest.sig, consistent with the files on disk
    entries = [entry_for(root, rel) for rel in sorted(walk_files(root))]
    root_hex = merkle_root(entries)
    now = datetime.now(start.tzinfo).isoformat()
    _write_durably(root / layout.MANIFEST, manifest_bytes(manifest_doc(entries, now)))
    _write_durably(root / layout.MERKLE_ROOT, merkle_bytes(root_hex))
    _write_durably(root / layout.MANIFEST_SIG, manifest_sig_bytes(root_hex, keys[0], now))
    generated = time.perf_counter()

    if build_index:
        with Vault.open(root, home=home) as v:
            # build deferred secondary indexes now, so no benchmark pays for them later
            ensure = getattr(v.index, "ensure_indexes", None)
            if ensure is not None:
                ensure()
            else:
                v.index.get("")
    done = time.perf_counter()
    return GeneratedVault(
        path=root, home=home, n_events=n_events, actors=labels,
        key_seeds_hex=[key_seed(seed, i).hex() for i in range(actors)], uid=uid,
        params={"n_events": n_events, "actors": actors, "hot_keys": hot_keys, "seed": seed,
                "generator_version": GENERATOR_VERSION},
        generate_seconds=generated - started, index_seconds=done - generated)


def cache_key(n_events: int, actors: int, hot_keys: int, seed: int) -> str:
    return f"v{GENERATOR_VERSION}-n{n_events}-a{actors}-h{hot_keys}-s{seed}"


def cached(n_events: int, *, actors: int = 8, hot_keys: int = 50, seed: int = 1337,
           cache_dir: Path = DEFAULT_CACHE_DIR, log: Any = None) -> GeneratedVault:
    """The vault for these parameters under ``cache_dir``, generated on first use.

    Layout: ``<cache_dir>/<key>/vault`` (the vault), ``<key>/home`` (its index, outside the
    vault) and ``<key>/generated.json`` (written last: a directory without it is a partial
    run and is regenerated). Benchmarks that write must work on a copy (see
    :func:`copy_vault`)."""
    base = (Path(cache_dir) / cache_key(n_events, actors, hot_keys, seed)).absolute()
    marker = base / "generated.json"
    if marker.is_file():
        gv = GeneratedVault.from_json(json.loads(marker.read_text()))
        if gv.path.is_dir():
            return gv
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    if log:
        log(f"generating {n_events} events in {base} ...")
    gv = generate(base / "vault", n_events, actors=actors, hot_keys=hot_keys, seed=seed,
                  home=base / "home")
    marker.write_text(json.dumps(gv.to_json(), indent=2))
    if log:
        log(f"generated in {gv.generate_seconds:.1f} s, indexed in {gv.index_seconds:.1f} s")
    return gv


def copy_vault(gv: GeneratedVault, dest: Path, *, home: Path | None = None) -> GeneratedVault:
    """A writable copy of a generated vault at ``dest`` (indexed under ``home``, default the
    original's home), with its index copied too: an index is keyed by the vault's path and
    stores only offsets, so the copy opens without a rebuild."""
    from provara_desktop.store.index import index_path_for

    dest = Path(dest).absolute()
    home = Path(home).absolute() if home is not None else gv.home
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(gv.path, dest)
    src_index = index_path_for(gv.home, gv.path, gv.uid)
    dst_index = index_path_for(home, dest, gv.uid)
    dst_index.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(dst_index) + suffix).unlink(missing_ok=True)
    # the database and its WAL together (the WAL may hold committed pages)
    for suffix in ("", "-wal"):
        src = Path(str(src_index) + suffix)
        if src.exists():
            shutil.copyfile(src, str(dst_index) + suffix)
    return GeneratedVault(**{**asdict(gv), "path": dest, "home": home})
