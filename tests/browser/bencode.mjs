// Just enough bencode for the tests: the same torrent (same info dictionary byte for byte, so
// the same info-hash) with another announce URL.

const encoder = new TextEncoder();

/** The end offset of the bencoded value starting at `at`. */
function skip(bytes, at) {
  const kind = bytes[at];
  if (kind === 0x69 /* i */) return bytes.indexOf(0x65, at) + 1;
  if (kind === 0x6c /* l */ || kind === 0x64 /* d */) {
    let i = at + 1;
    while (bytes[i] !== 0x65 /* e */) {
      if (i >= bytes.length) throw new Error("truncated bencode");
      i = skip(bytes, i);
    }
    return i + 1;
  }
  const colon = bytes.indexOf(0x3a /* : */, at);
  if (colon < 0) throw new Error("malformed bencode string");
  const length = Number(new TextDecoder().decode(bytes.subarray(at, colon)));
  return colon + 1 + length;
}

/** The raw bytes of the top-level dictionary's `info` value. */
function rawInfo(torrent) {
  if (torrent[0] !== 0x64) throw new Error("a torrent is a dictionary");
  let i = 1;
  while (torrent[i] !== 0x65) {
    const keyEnd = skip(torrent, i);
    const key = new TextDecoder().decode(torrent.subarray(torrent.indexOf(0x3a, i) + 1, keyEnd));
    const valueEnd = skip(torrent, keyEnd);
    if (key === "info") return torrent.subarray(keyEnd, valueEnd);
    i = valueEnd;
  }
  throw new Error("the torrent has no info dictionary");
}

/** `torrent` with `announce` as its only tracker. */
export function withAnnounce(torrent, announce) {
  const url = encoder.encode(announce);
  const parts = [
    encoder.encode(`d8:announce${url.length}:`),
    url,
    encoder.encode("4:info"),
    rawInfo(torrent),
    encoder.encode("e"),
  ];
  return Buffer.concat(parts);
}
