"""What every command of the command line shares: how it prints (one JSON document with
--json, else lines for a person) and where the profile is."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from pathlib import Path


def emit(args: argparse.Namespace, doc: Any, human: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(human + ("\n" if human and not human.endswith("\n") else ""))


def home(args: argparse.Namespace) -> Path:
    from provara_desktop.store.profile_paths import resolve_home

    return resolve_home(args.home)
