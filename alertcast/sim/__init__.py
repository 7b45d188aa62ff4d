"""Built-in simulators (SMPP SMSC, GSM modems on pseudo-terminals) for the demo, drills and tests."""
