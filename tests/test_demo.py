"""`alertcast demo`, the README's first command, run as a user runs it (headless: no terminal here)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def test_demo_runs_the_whole_drill_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alertcast.cli", "demo", "--headless"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "contacts: 212 imported" in out and "alerts: 7 accepted" in out
    progress = [line for line in out.splitlines() if line.startswith("#1 ")]
    assert progress, out

    def done(line: str, broadcast: int) -> bool:
        m = re.search(rf"#{broadcast} (\d+)/(\d+) delivered, (\d+) failed", line)
        assert m, line
        return int(m[1]) + int(m[3]) == int(m[2])

    # The Extreme broadcast, queued after the routine one, finishes first.
    first_critical_done = next(i for i, line in enumerate(progress) if done(line, 2))
    assert not done(progress[first_critical_done], 1)
    finished = out.split("finished:")[1]
    assert "queued" not in finished and "claimed" not in finished
    assert "smsc-sim" in finished and "modem-bank-sim" in finished
    assert re.search(r"engine: \d+ handed to transports .* (\d+) receipts matched, 0 unmatched", out)
    # Every staff reply is credited to the call-out; the stranger's reply (a number not in the address book,
    # quoting the right code) is kept unmatched.
    sent = re.search(r"simulated staff reply: (\d+) SMS", out)
    replies = re.search(r"replies: (\d+) acknowledgement\(s\) matched, (\d+) unmatched", out)
    assert sent and replies, out
    assert (int(replies[1]), int(replies[2])) == (int(sent[1]) - 1, 1)
    callout = finished.split("#3 ")[1].split("#2 ")[0]
    assert f"{replies[1]} acknowledged" in callout
    # The resident whose number the network refuses is reached by e-mail through the drill mail route.
    fallback = re.search(r"fallback: (\d+) recipient\(s\) reached by e-mail", out)
    assert fallback and int(fallback[1]) >= 1, out
