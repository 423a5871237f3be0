"""LAN sync (docs/SYNC_PROTOCOL.md): frames over asyncio streams (framing.py), the protocol's
messages (messages.py), a vault's chains and frontier (chains.py), one sync session between
two vaults (sync_session.py) whose batches enter through the intake (peer_batch.py), and
TLS 1.3 pinned by the Provara identity keys (tls.py). Pairing with a one-time code bound by
SPAKE2 (pairing.py, over TCP in pair_link.py; the per-pair secrets in pairing_secrets.py),
the headless peer (serve.py) and one sync as the initiator (sync_client.py, with the peers'
last addresses in peer_addresses.py) build on these, as do discovery and gossip (gossip.py:
when to sync with whom); peer_policy.py turns a peer's trust entry into what a session may do
(direction, scope, vouching)."""
