"""The verified intake of foreign events: one path for everything signed elsewhere.

A bundle file (bundle/) and, later, a LAN peer's batch (net/) hand their events to the
intake as a :class:`~provara_desktop.intake.batch.ForeignBatch`. The intake then

1. checks them (check.py, vault_checks.py): event ids, signatures, chains, who signed
   what and whether the user trusts them, and, against a receiving vault, what it holds;
2. plans the import (plan.py, belief_changes.py): which events are new, which are held back
   because nobody the user trusts signed them, what they do to the beliefs;
3. commits the plan atomically (commit.py) through the vault's own write transaction.

It sits below bundle/ and net/ and above store/: it knows nothing of zip files or sockets.
"""
