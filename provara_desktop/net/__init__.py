"""LAN sync (docs/SYNC_PROTOCOL.md): frames over asyncio streams (framing.py), the protocol's
messages (messages.py), a vault's chains and frontier (chains.py), one sync session between
two vaults (sync_session.py) whose batches enter through the intake (peer_batch.py), and
TLS 1.3 pinned by the Provara identity keys (tls.py). Discovery, pairing and gossip build on
these."""
