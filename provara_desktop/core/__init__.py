"""Pure protocol logic: canonical bytes, events, keys, signatures, reducer, order.

Nothing in this package does I/O or imports Qt.
"""
