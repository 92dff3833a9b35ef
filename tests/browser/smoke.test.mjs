// The wasm client loads in headless Chromium, exposes its API, makes a torrent of a File,
// stores a download in the Origin Private File System, and the page renders.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { serveStatic, launchChromium, openPage, assertBuilt, webRoot, repo } from "./lib.mjs";

const CATALOG = [
  { name: "ubuntu-24.04-desktop-amd64.iso", info_hash: "8a19577fb5f690970ca43a57ff1011ae202244b8", size: 6114656256, torrent_url: "/t/ubuntu.torrent", seeds: 4, peers: 7 },
  { name: "training-set-2026-q3.tar", info_hash: "3f0c1b6f1e0f9b1dd0a1f0e8a24c9a3e5c1b2d70", size: 73014444032, torrent_url: "/t/training.torrent", seeds: 1, peers: 12 },
  { name: "design-review.mp4", info_hash: "c2d95e40d5ee3a1d2d4f1c0b9e8a7f6e5d4c3b2a", size: 1288490188, torrent_url: "/t/design-review.torrent", seeds: 2, peers: 0 },
];

let server;
let chromium;

before(async () => {
  await assertBuilt();
  server = await serveStatic(webRoot, { routes: { "/catalog": CATALOG, "/ice": { iceServers: [] } } });
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  await server?.close();
});

test("the module loads and exposes the API", { timeout: 60_000 }, async () => {
  const { page, errors, consoleErrors } = await openPage(chromium.browser, `${server.url}/`);
  const api = await page.evaluate(() => {
    const { Client } = window.bitfleet;
    const methods = (proto) => Object.getOwnPropertyNames(proto).sort();
    return { client: methods(Client.prototype) };
  });
  for (const name of ["addTorrent", "seedFile", "torrents", "peerId"]) {
    assert.ok(api.client.includes(name), `Client lacks ${name}: ${api.client}`);
  }
  assert.deepEqual(errors, []);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test("seeding a File makes a torrent whose payload reads back", { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage(chromium.browser, `${server.url}/`);
  const result = await page.evaluate(async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
    const file = new File([bytes], "generated.bin");
    const torrent = await window.bitfleet.client.seedFile(file);
    const back = new Uint8Array(await (await torrent.getFile()).arrayBuffer());
    const status = torrent.status();
    return {
      infoHash: torrent.infoHash,
      magnet: torrent.magnet,
      torrentFileLength: torrent.torrentFile().length,
      info: torrent.info(),
      same: back.length === bytes.length && back.every((b, i) => b === bytes[i]),
      status,
      peerId: window.bitfleet.client.peerId,
    };
  });
  assert.match(result.infoHash, /^[0-9a-f]{40}$/);
  assert.ok(result.magnet.startsWith(`magnet:?xt=urn:btih:${result.infoHash}`), result.magnet);
  assert.ok(result.torrentFileLength > 100);
  assert.equal(result.info.name, "generated.bin");
  assert.equal(result.info.length, 300_000);
  assert.ok(result.same, "the seeded file reads back unchanged");
  assert.equal(result.status.done, true);
  assert.equal(result.status.have, result.status.pieces);
  // Bitfleet Web's peer-id prefix, hex encoded.
  assert.ok(result.peerId.startsWith(Buffer.from("-BW0100-").toString("hex")), result.peerId);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a .torrent download gets storage in the Origin Private File System", { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage(chromium.browser, `${server.url}/`);
  const result = await page.evaluate(async () => {
    // A torrent nobody seeds: the download starts with nothing, in an OPFS file of full size.
    const file = new File([new Uint8Array(100_000).fill(7)], "nobody-has-this.bin");
    const seeder = await window.bitfleet.client.seedFile(file);
    const torrentBytes = seeder.torrentFile();
    seeder.remove();
    const url = URL.createObjectURL(new Blob([torrentBytes]));
    const torrent = await window.bitfleet.client.addTorrent(url);
    const stored = await torrent.getFile();
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle("bitfleet");
    const names = [];
    for await (const name of dir.keys()) names.push(name);
    return { infoHash: torrent.infoHash, size: stored.size, names, status: torrent.status() };
  });
  assert.equal(result.size, 100_000);
  assert.ok(result.names.includes(result.infoHash), `OPFS holds ${result.names}`);
  assert.equal(result.status.done, false);
  assert.equal(result.status.have, 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a download resumed in a new page keeps the valid pieces it finds in OPFS", { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage(chromium.browser, `${server.url}/`);
  const result = await page.evaluate(async () => {
    // Thirteen pieces: a page makes pieces of at least 256 KiB.
    const bytes = new Uint8Array(3_200_000).map((_, i) => (i * 31 + 7) % 253);
    const seeder = await window.bitfleet.client.seedFile(new File([bytes], "resume.bin"));
    const torrentBytes = seeder.torrentFile();
    const infoHash = seeder.infoHash;
    seeder.remove();
    // What an earlier download left: every byte, except one piece damaged.
    const stored = bytes.slice();
    stored.fill(0, 16_384, 16_384 + 100);
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle("bitfleet", { create: true });
    const handle = await dir.getFileHandle(infoHash, { create: true });
    const writable = await handle.createWritable();
    await writable.write(stored);
    await writable.close();
    const url = URL.createObjectURL(new Blob([torrentBytes]));
    const torrent = await window.bitfleet.client.addTorrent(url);
    return torrent.status();
  });
  assert.equal(result.pieces, 13);
  assert.equal(result.have, 12, "all pieces but the damaged one are kept");
  assert.deepEqual(errors, []);
  await page.close();
});

test("the page renders the catalog (screenshot in tests/browser/out/page.png)", { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage(chromium.browser, `${server.url}/`);
  await page.waitForSelector("#catalog tbody tr");
  const names = await page.$$eval("#catalog tbody .title", (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(names, CATALOG.map((entry) => entry.name));
  const out = join(repo, "tests", "browser", "out");
  await mkdir(out, { recursive: true });
  await page.screenshot({ path: join(out, "page.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
