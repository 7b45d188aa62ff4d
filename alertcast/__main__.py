"""``python -m alertcast``: the same as the ``alertcast`` command."""

from alertcast.cli import main

main()
