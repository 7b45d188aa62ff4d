"""Transports behind one small interface (base.Channel): SMPP, GSM modem banks, Apprise, the drill sink."""
