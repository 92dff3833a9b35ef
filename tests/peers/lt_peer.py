#!/usr/bin/env python3
"""A stock libtorrent peer for interop tests and benchmarks.

    lt_peer.py seed TORRENT DATA_DIR [--port P] [--peer HOST:PORT]... [--up-limit BPS] [--skip-check]
    lt_peer.py get TORRENT OUT_DIR [--port P] [--peer HOST:PORT]... [--up-limit BPS] [--seed-after]
    lt_peer.py create PATH OUT.torrent [--v1-only] [--piece-size N] [--tracker URL]...
    lt_peer.py info TORRENT

`seed` and `get` print JSON lines shaped like `bitfleet --json` (started, progress, complete,
stopped); `--port 0` (the default) picks a free port, reported in `started`. SIGTERM/SIGINT stop
gracefully with a final `stopped` line. Errors go to stderr as `error: ...` with exit code 1.
"""

import argparse
import os
import signal
import sys
import time

import libtorrent as lt

from jsonl import emit, fail, parse_host_port
from ltcompat import file_layout, torrent_creator

PROGRESS_INTERVAL = 1.0
POLL_INTERVAL = 0.05
LISTEN_TIMEOUT = 10.0


def session_for(port):
    """A session tuned for loopback: TCP only, no discovery, many connections from one IP."""
    return lt.session(
        {
            "listen_interfaces": f"127.0.0.1:{port}",
            "enable_outgoing_utp": False,
            "enable_incoming_utp": False,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "connections_limit": 1000,
            "alert_mask": lt.alert_category.error | lt.alert_category.status,
        }
    )


def v1_hash_hex(ti):
    return str(ti.info_hashes().v1)


def load_torrent(path):
    try:
        return lt.torrent_info(path)
    except RuntimeError as e:
        fail(f"cannot load torrent {path}: {e}")


class Peer:
    """One torrent in one session, reporting like the bitfleet CLI does."""

    def __init__(self, ti, save_path, port, peers, up_limit, flags=0):
        self.ti = ti
        self.peers = [parse_host_port(p) for p in peers]
        self.session = session_for(port)
        params = lt.add_torrent_params()
        params.ti = ti
        params.save_path = save_path
        params.flags |= flags
        self.handle = self.session.add_torrent(params)
        if up_limit:
            self.handle.set_upload_limit(up_limit)
        self.hash_failures = 0
        self.stop_requested = False
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)

    def _request_stop(self, _signum, _frame):
        self.stop_requested = True

    def drain_alerts(self):
        for alert in self.session.pop_alerts():
            if isinstance(alert, lt.hash_failed_alert):
                self.hash_failures += 1
            elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                fail(alert.message())

    def listen_port(self):
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while self.session.listen_port() == 0:
            self.drain_alerts()
            if time.monotonic() > deadline:
                fail("libtorrent did not start listening")
            time.sleep(POLL_INTERVAL)
        return self.session.listen_port()

    def wait_checked(self):
        """Waits until libtorrent has checked the files already on disk."""
        checking = (
            lt.torrent_status.states.checking_files,
            lt.torrent_status.states.checking_resume_data,
        )
        while self.handle.status().state in checking:
            self.drain_alerts()
            if self.stop_requested:
                return
            time.sleep(POLL_INTERVAL)

    def stats(self):
        s = self.handle.status()
        return {
            "have": s.num_pieces,
            "pieces": self.ti.num_pieces(),
            "downloaded": s.total_payload_download,
            "uploaded": s.total_payload_upload,
            "down_rate": s.download_payload_rate,
            "up_rate": s.upload_payload_rate,
            "peers": s.num_peers,
            "hash_failures": self.hash_failures,
            "wasted": s.total_failed_bytes + s.total_redundant_bytes,
        }

    def emit_started(self):
        emit(
            "started",
            info_hash=v1_hash_hex(self.ti),
            name=self.ti.name(),
            total=self.ti.total_size(),
            pieces=self.ti.num_pieces(),
            port=self.listen_port(),
        )

    def connect_peers(self):
        for peer in self.peers:
            self.handle.connect_peer(peer)

    def run(self, exit_when_complete):
        """Reports progress until stopped (or complete, if `exit_when_complete`)."""
        completed = False
        next_progress = 0.0
        next_connect = 0.0
        while not self.stop_requested:
            self.drain_alerts()
            now = time.monotonic()
            status = self.handle.status()
            if status.num_peers == 0 and now >= next_connect:
                # Re-dial until connected: a peer may not be listening yet when we start.
                self.connect_peers()
                next_connect = now + 1.0
            if not completed and status.is_seeding:
                completed = True
                emit("complete", **self.stats())
                if exit_when_complete:
                    break
            if now >= next_progress:
                emit("progress", **self.stats())
                next_progress = now + PROGRESS_INTERVAL
            time.sleep(POLL_INTERVAL)
        emit("stopped", **self.stats())


def cmd_seed(args):
    ti = load_torrent(args.torrent)
    flags = lt.torrent_flags.seed_mode if args.skip_check else 0
    peer = Peer(ti, args.data_dir, args.port, args.peer, args.up_limit, flags)
    peer.wait_checked()
    status = peer.handle.status()
    if not status.is_seeding:
        fail(
            f"data in {args.data_dir} is missing or wrong: "
            f"{status.num_pieces}/{ti.num_pieces()} pieces valid"
        )
    peer.emit_started()
    peer.run(exit_when_complete=False)


def cmd_get(args):
    ti = load_torrent(args.torrent)
    os.makedirs(args.out_dir, exist_ok=True)
    peer = Peer(ti, args.out_dir, args.port, args.peer, args.up_limit)
    peer.emit_started()
    peer.run(exit_when_complete=not args.seed_after)


def cmd_create(args):
    path = os.path.abspath(args.path)
    if not os.path.exists(path):
        fail(f"{path} does not exist")
    flags = lt.create_torrent.v1_only if args.v1_only else 0
    ct = torrent_creator(path, args.piece_size, flags)
    for tracker in args.tracker:
        ct.add_tracker(tracker)
    ct.set_creator("bitfleet-tests lt_peer.py")
    lt.set_piece_hashes(ct, os.path.dirname(path))
    with open(args.out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    print_info(lt.torrent_info(args.out))


def print_info(ti):
    fs = file_layout(ti)
    files = [
        {
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "offset": fs.file_offset(i),
            "pad": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
        }
        for i in range(fs.num_files())
    ]
    emit(
        "info",
        info_hash=v1_hash_hex(ti),
        name=ti.name(),
        files=files,
        piece_length=ti.piece_length(),
        pieces=ti.num_pieces(),
        total=ti.total_size(),
        v2=ti.info_hashes().has_v2(),
    )


def cmd_info(args):
    print_info(load_torrent(args.torrent))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    seed = sub.add_parser("seed", help="seed TORRENT from DATA_DIR")
    seed.add_argument("torrent")
    seed.add_argument("data_dir")
    seed.add_argument("--port", type=int, default=0)
    seed.add_argument("--peer", action="append", default=[], metavar="HOST:PORT")
    seed.add_argument("--up-limit", type=int, default=0, help="bytes/s; 0 = unlimited")
    seed.add_argument("--skip-check", action="store_true", help="trust the data (seed mode)")
    seed.set_defaults(run=cmd_seed)

    get = sub.add_parser("get", help="download TORRENT into OUT_DIR")
    get.add_argument("torrent")
    get.add_argument("out_dir")
    get.add_argument("--port", type=int, default=0)
    get.add_argument("--peer", action="append", default=[], metavar="HOST:PORT")
    get.add_argument("--up-limit", type=int, default=0, help="bytes/s; 0 = unlimited")
    get.add_argument("--seed-after", action="store_true", help="keep seeding until SIGTERM")
    get.set_defaults(run=cmd_get)

    create = sub.add_parser("create", help="make a .torrent for PATH (hybrid v1+v2 by default)")
    create.add_argument("path")
    create.add_argument("out")
    create.add_argument("--v1-only", action="store_true")
    create.add_argument("--piece-size", type=int, default=0, help="bytes; 0 lets libtorrent pick")
    create.add_argument("--tracker", action="append", default=[], metavar="URL")
    create.set_defaults(run=cmd_create)

    info = sub.add_parser("info", help="print TORRENT's v1 info-hash, name, files, piece length")
    info.add_argument("torrent")
    info.set_defaults(run=cmd_info)

    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    try:
        args.run(args)
    except (OSError, RuntimeError, ValueError) as e:
        fail(str(e))


if __name__ == "__main__":
    main(sys.argv[1:])
