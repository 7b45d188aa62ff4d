"""The domain, pure: CAP model, SMS encoding, rendering, targeting, priority, replies, escalation rules. No I/O."""
