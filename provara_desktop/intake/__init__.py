"""The verified intake of foreign events: one path for everything signed elsewhere.

A bundle file (bundle/) and a LAN peer's batch (net/) hand their events to the intake as a
:class:`~provara_desktop.intake.batch.ForeignBatch`. The intake then

1. checks them (check.py, vault_checks.py, labels.py): event ids, signatures, chains, who
   signed what and whether the user trusts them (trust_view.py), who may sign under which
   actor label, and, against a receiving vault, what it already holds;
2. plans the import (plan.py, belief_changes.py, placement.py): which events are new, which
   are held back because nobody the user trusts signed them, what they do to the beliefs;
3. commits the plan atomically (commit.py) through the vault's own write transaction, and
   records the trust decision an acceptance of untrusted keys makes (trust_decisions.py).

It sits below bundle/ and net/ and above store/: it knows nothing of zip files or sockets.
"""
