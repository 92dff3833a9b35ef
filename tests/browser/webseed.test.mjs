// The page downloads from a BEP 19 web seed alone: `bitfleet serve --no-seed` publishes a
// folder (tracker, page, catalog, web seed) with no BitTorrent seed anywhere, the page's
// Download button fetches every piece over HTTP Range requests, and the bytes match. Runs
// inside the network namespace (run.sh): nothing outside it could help. The same with a tracker
// token: the page is opened as `/?token=...` and everything it fetches needs it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, openPage, assertBuilt, generate, webRoot, repo } from "./lib.mjs";

const BITFLEET_BIN = process.env.BITFLEET_BIN ?? join(repo, "target", "release", "bitfleet");
// localhost is a secure context: the download goes to the Origin Private File System.
const ORIGIN = "http://127.0.0.1:18090";
/** A second server, with a tracker token. */
const TOKEN_ORIGIN = "http://127.0.0.1:18091";
const TOKEN = "s3cret";
/** A multi-file torrent: the web seed's URLs are `/files/fleet/<path>`, one with a space. */
const FILES = [
  ["big.bin", 3 * 1024 * 1024 + 4_321],
  ["docs/read me.txt", 70_001],
];

let data;
let server;
let tokenServer;
let chromium;

before(async () => {
  await assertBuilt();
  data = await mkdtemp(join(tmpdir(), "bitfleet-webseed-"));
  let seed = 1;
  for (const [path, length] of FILES) {
    const file = join(data, "fleet", path);
    await mkdir(join(file, ".."), { recursive: true });
    await writeFile(file, generate(length, seed++));
  }
  server = await startServe(join(data, "fleet"), ORIGIN);
  const config = join(data, "tracker.toml");
  await writeFile(config, `token = "${TOKEN}"\n`);
  tokenServer = await startServe(join(data, "fleet"), TOKEN_ORIGIN, ["--config", config], `?token=${TOKEN}`);
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  server?.kill("SIGTERM");
  tokenServer?.kill("SIGTERM");
  if (data) await rm(data, { recursive: true, force: true });
});

async function startServe(path, origin, extra = [], query = "") {
  const args = ["serve", path, "--listen", origin.slice("http://".length), "--no-seed", "--page", webRoot, ...extra];
  const child = spawn(BITFLEET_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr.on("data", (chunk) => process.stderr.write(`[bitfleet serve] ${chunk}`));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bitfleet serve exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${origin}/catalog${query}`);
      if (response.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error("bitfleet serve did not come up");
}

test("the page finishes a catalog entry from the web seed alone", { timeout: 120_000 }, async (t) => {
  const catalog = await (await fetch(`${ORIGIN}/catalog`)).json();
  assert.equal(catalog.length, 1);
  assert.equal(catalog[0].seeds, 0, "no BitTorrent seed anywhere");
  await downloadsTheCatalogEntry(t, `${ORIGIN}/`);
});

test("with a tracker token, the page opened with it downloads through it", { timeout: 120_000 }, async (t) => {
  for (const path of ["/catalog", "/t/fleet.torrent", "/ice", "/files/fleet/big.bin"]) {
    assert.equal((await fetch(`${TOKEN_ORIGIN}${path}`)).status, 403, `${path} without the token`);
  }
  const { page } = await openPage(chromium.browser, `${TOKEN_ORIGIN}/`);
  await page.waitForSelector("#catalog-empty:not([hidden])");
  assert.match(await page.textContent("#catalog-empty"), /no catalog/, "a page without the token sees nothing");
  await downloadsTheCatalogEntry(t, `${TOKEN_ORIGIN}/?token=${TOKEN}`);
});

/** Opens the page at `url`, downloads the catalog's one entry and checks its files. */
async function downloadsTheCatalogEntry(t, url) {
  const { page, errors } = await openPage(chromium.browser, url);
  await page.click("#catalog tbody button.primary");
  await page.waitForSelector("#catalog tbody .state.ok", { timeout: 90_000 });
  const rates = await page.textContent("#catalog tbody .rates");
  t.diagnostic(`row after download: ${rates}`);
  assert.match(rates, /^100%/);

  const result = await page.evaluate(async () => {
    const [torrent] = window.bitfleet.client.torrents();
    const info = torrent.info();
    const digests = [];
    for (let i = 0; i < info.files.length; i++) {
      const file = await torrent.getFile(i);
      const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
      digests.push([info.files[i].path, Array.from(new Uint8Array(digest))]);
    }
    return { status: torrent.status(), digests };
  });
  const expected = FILES.map(([path, length], i) => [
    path,
    Array.from(createHash("sha256").update(generate(length, i + 1)).digest()),
  ]);
  assert.deepEqual(result.digests, expected, "the page's files are the published ones");
  const total = FILES.reduce((sum, [, length]) => sum + length, 0);
  assert.equal(result.status.done, true);
  assert.equal(result.status.peers, 0, "no peer took part");
  assert.equal(result.status.hashFailures, 0);
  assert.equal(result.status.downloaded, total, "every byte came once, from the web seed");
  assert.deepEqual(errors, []);
}
