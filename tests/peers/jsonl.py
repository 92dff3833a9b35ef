"""JSON-lines output shared by the python peers.

The events mirror `bitfleet --json` (see README, "CLI reference") so the Rust harness reads a
python peer and a bitfleet process the same way.
"""

import json
import sys


def emit(event, **fields):
    """Writes one event as a JSON line on stdout and flushes it (the harness reads it live)."""
    print(json.dumps({"event": event, **fields}), flush=True)


def fail(message):
    """Reports a fatal error the way the bitfleet CLI does: `error:` on stderr, exit code 1."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def parse_host_port(text):
    """'HOST:PORT' -> (host, port); IPv6 hosts may be bracketed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)
