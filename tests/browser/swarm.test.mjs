// Browser to browser over WebRTC: one page seeds a generated File, another downloads it through
// the WebSocket tracker of `bitfleet-server`; the bytes must match. Runs inside a network
// namespace (run.sh puts it there): every process of the test shares its addresses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { serveStatic, launchChromium, openPage, assertBuilt, webRoot, repo, generate, startTracker } from "./lib.mjs";

const HOST = process.env.BITFLEET_NETNS_ADDR;
const SERVER_BIN = process.env.BITFLEET_SERVER ?? join(repo, "target", "release", "bitfleet-server");
const TRACKER_PORT = 18080;
const PAYLOAD_LEN = Number(process.env.BITFLEET_PAYLOAD_LEN ?? 6 * 1024 * 1024 + 12_345);

let tracker;
/** The page from localhost, a secure context: downloads go to the Origin Private File System. */
let secureSite;
/** What the secure site serves besides web/: the catalog, a torrent, the ICE servers. */
const routes = { "/catalog": [], "/ice": { iceServers: [] } };
/** The page from the test address over plain HTTP: no OPFS, downloads stay in memory. */
let plainSite;
let seeder;
let seeded;
const browsers = [];

before(async () => {
  assert.ok(HOST, "run this test through tests/browser/run.sh (it needs a network namespace)");
  await assertBuilt();
  tracker = await startTracker(SERVER_BIN, HOST, TRACKER_PORT);
  secureSite = await serveStatic(webRoot, { host: "127.0.0.1", routes });
  plainSite = await serveStatic(webRoot, { host: HOST, routes });
  seeder = await peerPage(secureSite);
  seeded = await seeder.page.evaluate(
    async ({ length, generate }) => {
      const bytes = new Function(`return ${generate}`)()(length);
      const torrent = await window.testClient.seedFile(new File([bytes], "generated.bin"));
      window.seeded = torrent;
      return {
        torrent: Array.from(torrent.torrentFile()),
        infoHash: torrent.infoHash,
        magnet: torrent.magnet,
      };
    },
    { length: PAYLOAD_LEN, generate: generate.toString() },
  );
});

after(async () => {
  for (const browser of browsers) await browser.close();
  await secureSite?.close();
  await plainSite?.close();
  tracker?.kill("SIGTERM");
});

/** A page in its own browser, with a client that uses the test's tracker. */
async function peerPage(site, options = {}) {
  const chromium = await launchChromium();
  browsers.push(chromium);
  const opened = await openPage(chromium.browser, `${site.url}/`);
  await opened.page.evaluate(
    ({ tracker, options }) => {
      window.testClient = new window.bitfleet.Client({ trackers: [tracker], iceUrl: "/ice", ...options });
    },
    { tracker: `ws://${HOST}:${TRACKER_PORT}/announce`, options },
  );
  return opened;
}

/** Downloads the seeded torrent in `leecher` from its .torrent (or its magnet link); checks
 * every byte against the generator. */
async function download(leecher, { magnet = null } = {}) {
  return leecher.page.evaluate(
    async ({ torrentBytes, magnet, length, generate }) => {
      const started = performance.now();
      const source = magnet ?? URL.createObjectURL(new Blob([new Uint8Array(torrentBytes)]));
      const torrent = await window.testClient.addTorrent(source);
      const metadata = new Promise((resolve) => torrent.on("metadata", resolve));
      const seen = [];
      torrent.on("peer", (peer) => seen.push(peer));
      await new Promise((resolve) => {
        if (torrent.status().done) return resolve();
        torrent.on("done", resolve);
      });
      const elapsedMs = Math.round(performance.now() - started);
      const info = magnet ? await metadata : torrent.info();
      const got = new Uint8Array(await (await torrent.getFile()).arrayBuffer());
      const expected = new Function(`return ${generate}`)()(length);
      const firstDifference = got.findIndex((byte, i) => byte !== expected[i]);
      // Give the address lookup of the connected peer a moment.
      await new Promise((resolve) => setTimeout(resolve, 500));
      return {
        length: got.length,
        elapsedMs,
        firstDifference,
        status: torrent.status(),
        seen,
        opfs: window.isSecureContext,
        info,
      };
    },
    { torrentBytes: seeded.torrent, magnet, length: PAYLOAD_LEN, generate: generate.toString() },
  );
}

function summary(fetched) {
  const peers = fetched.seen.map((peer) => `${peer.event} ${peer.kind} ${peer.client} ${peer.address ?? ""}`);
  return `${fetched.length} bytes in ${fetched.elapsedMs} ms; peer events: ${peers.join("; ")}`;
}

function assertDownloaded(fetched) {
  assert.equal(fetched.length, PAYLOAD_LEN);
  assert.equal(fetched.firstDifference, -1, "the downloaded bytes equal the seeded ones");
  assert.equal(fetched.status.done, true);
  assert.ok(fetched.status.downloaded >= PAYLOAD_LEN, `downloaded ${fetched.status.downloaded}`);
  const seen = fetched.seen.find((peer) => peer.kind === "browser" && peer.event === "connected");
  assert.ok(seen, `a browser peer connected: ${JSON.stringify(fetched.seen)}`);
  // Two seeds have nothing for each other, so the connection may be gone by now; its address
  // was reported while it was up.
  const addressed = fetched.seen.find((peer) => peer.event === "updated" && peer.address);
  assert.match(addressed?.address ?? "", /^10\.99\.0\.\d+:\d+$/, JSON.stringify(fetched.seen));
}

test("a browser downloads a file another browser seeds, over WebRTC, into OPFS", { timeout: 180_000 }, async (t) => {
  const leecher = await peerPage(secureSite);
  const fetched = await download(leecher);
  t.diagnostic(summary(fetched));
  assert.equal(fetched.opfs, true);
  assertDownloaded(fetched);
  const uploaded = await seeder.page.evaluate(() => window.seeded.status().uploaded);
  assert.ok(uploaded >= PAYLOAD_LEN, `the seeder uploaded ${uploaded}`);
  assert.deepEqual(seeder.errors, []);
  assert.deepEqual(leecher.errors, []);
});

test("a page without OPFS (plain HTTP) downloads a small file into memory", { timeout: 180_000 }, async (t) => {
  const leecher = await peerPage(plainSite);
  const fetched = await download(leecher);
  t.diagnostic(summary(fetched));
  assert.equal(fetched.opfs, false);
  assertDownloaded(fetched);
  assert.deepEqual(leecher.errors, []);
  assert.deepEqual(seeder.errors, []);
});

test("a magnet link fetches the metadata from a browser peer, then the file", { timeout: 180_000 }, async (t) => {
  const leecher = await peerPage(secureSite);
  const fetched = await download(leecher, { magnet: seeded.magnet });
  t.diagnostic(summary(fetched));
  assert.equal(fetched.info.name, "generated.bin");
  assert.equal(fetched.info.length, PAYLOAD_LEN);
  assertDownloaded(fetched);
  assert.deepEqual(leecher.errors, []);
});

test("the page downloads a catalog entry and saves it", { timeout: 180_000 }, async (t) => {
  routes["/t/generated.torrent"] = new Uint8Array(seeded.torrent);
  routes["/catalog"] = [
    {
      name: "generated.bin",
      info_hash: seeded.infoHash,
      size: PAYLOAD_LEN,
      torrent_url: "/t/generated.torrent",
      seeds: 1,
      peers: 0,
    },
  ];
  const chromium = await launchChromium();
  browsers.push(chromium);
  const { page, errors } = await openPage(chromium.browser, `${secureSite.url}/`);
  const out = join(repo, "tests", "browser", "out");
  await mkdir(out, { recursive: true });
  await page.click("#catalog tbody button.primary");
  await page.waitForSelector("#peers tbody tr .kind.browser", { timeout: 120_000 });
  await page.screenshot({ path: join(out, "page-downloading.png"), fullPage: true });
  await page.waitForSelector("#catalog tbody .state.ok", { timeout: 120_000 });
  // Let the progress bar's transition finish.
  await page.waitForTimeout(600);
  await page.screenshot({ path: join(out, "page-downloaded.png"), fullPage: true });
  const rates = await page.textContent("#catalog tbody .rates");
  t.diagnostic(`row after download: ${rates}`);
  assert.match(rates, /^100%/);

  const [saved] = await Promise.all([page.waitForEvent("download"), page.click("text=Save")]);
  assert.equal(saved.suggestedFilename(), "generated.bin");
  const path = join(out, "saved.bin");
  await saved.saveAs(path);
  assert.ok(Buffer.from(await readFile(path)).equals(Buffer.from(generate(PAYLOAD_LEN))), "saved bytes");
  assert.deepEqual(errors, []);
});

test("seeds rejoin a restarted tracker within seconds, and a newcomer finds them", { timeout: 180_000 }, async (t) => {
  const before = await seedCount();
  assert.ok(before >= 1, "the tracker knows the seeds");
  tracker.kill("SIGTERM");
  await new Promise((resolve) => tracker.once("exit", resolve));
  const restarted = Date.now();
  // The new tracker knows no one. Left to their engines, the seeds would announce again only
  // at their next scheduled announce (30 s or more away); the driver rejoins after 5 s.
  tracker = await startTracker(SERVER_BIN, HOST, TRACKER_PORT);
  let back = 0;
  while (back < before && Date.now() - restarted < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    back = await seedCount();
  }
  t.diagnostic(`${back} of ${before} seeds back ${Date.now() - restarted} ms after the restart`);
  assert.equal(back, before, "every seed rejoined within 10 s");

  const leecher = await peerPage(secureSite);
  const fetched = await download(leecher);
  t.diagnostic(summary(fetched));
  assertDownloaded(fetched);
  assert.deepEqual(leecher.errors, []);
  assert.deepEqual(seeder.errors, []);
});

test("a torrent never holds more connections than its cap", { timeout: 180_000 }, async (t) => {
  const seeds = await seedCount();
  assert.ok(seeds >= 3, `enough seeds to exceed the cap: ${seeds}`);
  const leecher = await peerPage(secureSite, { maxPeersPerTorrent: 2 });
  const fetched = await download(leecher);
  let open = 0;
  let most = 0;
  for (const peer of fetched.seen) {
    if (peer.event === "connected") most = Math.max(most, ++open);
    if (peer.event === "closed") open--;
  }
  t.diagnostic(`at most ${most} connections at once, with ${seeds} seeds in the swarm`);
  assertDownloaded(fetched);
  assert.ok(most >= 1 && most <= 2, `at most 2 connections at once, saw ${most}`);
});

/** Seeds the tracker lists for the seeded torrent. */
async function seedCount() {
  const response = await fetch(`http://${HOST}:${TRACKER_PORT}/stats`);
  const { swarms } = await response.json();
  return swarms.find((swarm) => swarm.info_hash === seeded.infoHash)?.seeds ?? 0;
}
