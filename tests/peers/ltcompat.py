"""Differences between libtorrent 2.0 (Debian's python3-libtorrent) and 2.1 (PyPI)."""

import libtorrent as lt


def file_layout(ti):
    """The torrent's file_storage; 2.1 renamed `files()` to `layout()`."""
    return ti.layout() if hasattr(ti, "layout") else ti.files()


def torrent_creator(path, piece_size, flags):
    """A create_torrent for every file under `path`; 2.1 replaced file_storage with a list."""
    if hasattr(lt, "list_files"):
        return lt.create_torrent(lt.list_files(path), piece_size, flags)
    fs = lt.file_storage()
    lt.add_files(fs, path)
    return lt.create_torrent(fs, piece_size, flags)
