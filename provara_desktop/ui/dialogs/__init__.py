"""Qt dialogs: identity, evidence capture, bundles."""
