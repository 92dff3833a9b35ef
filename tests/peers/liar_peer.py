#!/usr/bin/env python3
"""A lying BitTorrent peer speaking the raw v1 wire protocol over TCP.

    liar_peer.py TORRENT DATA_DIR [--port P]

It listens on 127.0.0.1, answers every handshake for TORRENT, claims every piece (bitfield),
unchokes at once and serves blocks read from DATA_DIR. The first piece anyone requests becomes
the poisoned piece: every block of it is served with its bytes inverted, so the downloader's
SHA-1 check of that piece must fail. Prints JSON lines: `started` (like the bitfleet CLI, with
the listen port) and `poisoned` {"piece": N} when it first serves a wrong block.
"""

import argparse
import os
import socket
import struct
import sys
import threading

import libtorrent as lt

from jsonl import emit, fail
from ltcompat import file_layout

PROTOCOL = b"\x13BitTorrent protocol"
HANDSHAKE_LEN = 68
PEER_ID = b"-LIAR00-" + os.urandom(6).hex().encode()
MAX_MESSAGE = 1 << 20
MSG_UNCHOKE, MSG_BITFIELD, MSG_REQUEST, MSG_PIECE = 1, 5, 6, 7


class Liar:
    def __init__(self, ti, data_dir):
        self.ti = ti
        self.data_dir = data_dir
        self.info_hash = ti.info_hashes().v1.to_bytes()
        self.poisoned = None
        self.lock = threading.Lock()

    def read_block(self, piece, begin, length):
        """The true bytes of a block, gathered across file boundaries (pad files are zeros)."""
        layout = file_layout(self.ti)
        out = bytearray()
        for part in self.ti.map_block(piece, begin, length):
            if layout.file_flags(part.file_index) & lt.file_storage.flag_pad_file:
                out += bytes(part.size)
                continue
            path = os.path.join(self.data_dir, layout.file_path(part.file_index))
            with open(path, "rb") as f:
                f.seek(part.offset)
                out += f.read(part.size)
        return bytes(out)

    def block_for(self, piece, begin, length):
        data = self.read_block(piece, begin, length)
        with self.lock:
            if self.poisoned is None:
                self.poisoned = piece
                emit("poisoned", piece=piece)
            lie = piece == self.poisoned
        return bytes(b ^ 0xFF for b in data) if lie else data

    def bitfield(self):
        count = self.ti.num_pieces()
        bits = bytearray((count + 7) // 8)
        for i in range(count):
            bits[i // 8] |= 0x80 >> (i % 8)
        return bytes(bits)

    def serve(self, conn):
        with conn:
            handshake = recv_exact(conn, HANDSHAKE_LEN)
            if handshake is None or handshake[:20] != PROTOCOL:
                return
            if handshake[28:48] != self.info_hash:
                return
            conn.sendall(PROTOCOL + bytes(8) + self.info_hash + PEER_ID)
            send_message(conn, MSG_BITFIELD, self.bitfield())
            send_message(conn, MSG_UNCHOKE, b"")
            while True:
                message = recv_message(conn)
                if message is None:
                    return
                msg_id, payload = message
                if msg_id == MSG_REQUEST and len(payload) == 12:
                    piece, begin, length = struct.unpack(">III", payload)
                    block = self.block_for(piece, begin, length)
                    send_message(conn, MSG_PIECE, struct.pack(">II", piece, begin) + block)


def recv_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = conn.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def recv_message(conn):
    """Next (id, payload), skipping keep-alives; None when the connection ends or misbehaves."""
    while True:
        header = recv_exact(conn, 4)
        if header is None:
            return None
        (length,) = struct.unpack(">I", header)
        if length == 0:
            continue
        if length > MAX_MESSAGE:
            return None
        body = recv_exact(conn, length)
        if body is None:
            return None
        return body[0], body[1:]


def send_message(conn, msg_id, payload):
    try:
        conn.sendall(struct.pack(">IB", len(payload) + 1, msg_id) + payload)
    except OSError:
        pass


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("torrent")
    parser.add_argument("data_dir")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        ti = lt.torrent_info(args.torrent)
    except RuntimeError as e:
        fail(f"cannot load torrent {args.torrent}: {e}")
    liar = Liar(ti, args.data_dir)
    listener = socket.create_server(("127.0.0.1", args.port))
    emit(
        "started",
        info_hash=str(ti.info_hashes().v1),
        name=ti.name(),
        total=ti.total_size(),
        pieces=ti.num_pieces(),
        port=listener.getsockname()[1],
    )
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=liar.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
