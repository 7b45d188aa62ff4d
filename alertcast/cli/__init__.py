"""The ``alertcast`` command: a thin shell over the services, headless except for the console.

Exit codes (documented in the README): 0 success; 1 input rejected (bad rows, bad alerts, unknown names —
good input is still processed); 2 usage error; 3 configuration or store cannot be opened.
Sub-commands never import Textual; only bare ``alertcast`` (and ``demo``) open the console.
"""

from __future__ import annotations

from alertcast.cli.root import main

__all__ = ["main"]
