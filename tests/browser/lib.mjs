// Shared pieces of the browser tests: a static server for web/, and Debian's Chromium.
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, extname, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const webRoot = join(repo, "web");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".png": "image/png",
};

/** Serves `root` over HTTP on `host` (port chosen by the system); `routes` maps paths to
 * documents served in place of files: bytes as they are (a .torrent), `{contentType, body}`
 * as given, anything else as JSON. The map is read at each request, so routes may be added
 * later. Resolves to `{url, close()}`. */
export async function serveStatic(root, { host = "127.0.0.1", routes = {} } = {}) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (Object.hasOwn(routes, path)) {
      const body = routes[path];
      if (body?.contentType) {
        res.writeHead(200, { "content-type": body.contentType });
        res.end(body.body);
      } else if (body instanceof Uint8Array) {
        res.writeHead(200, { "content-type": "application/x-bittorrent" });
        res.end(body);
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      }
      return;
    }
    const file = normalize(join(root, path.endsWith("/") ? `${path}index.html` : path));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  const { port } = server.address();
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Headless Debian Chromium with the flags TOOLCHAIN.md lists; never a downloaded browser.
 * Resolves to `{browser, close()}`; each browser gets a fresh profile. */
export async function launchChromium() {
  const profile = await mkdtemp(join(tmpdir(), "bitfleet-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Host candidates as plain addresses, not mDNS names a native peer cannot resolve.
      "--disable-features=WebRtcHideLocalIpsWithMdns",
    ],
    viewport: { width: 1200, height: 860 },
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the page and waits until the wasm client is up (`window.bitfleet`). */
export async function openPage(context, url) {
  const page = await context.newPage();
  // Uncaught exceptions and rejections are the client's bugs; console errors may be the
  // browser's own reports (a tracker that is not there).
  const errors = [];
  const consoleErrors = [];
  page.on("pageerror", (err) => errors.push(err));
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await page.goto(url);
  await page.waitForFunction(() => window.bitfleet?.client, null, { timeout: 20_000 });
  return { page, errors, consoleErrors };
}

/** A page in its own browser (pushed onto `browsers` to be closed) whose client announces to
 * the WebSocket tracker `tracker`; resolves to what `openPage` gives. */
export async function clientPage(site, tracker, browsers) {
  const chromium = await launchChromium();
  browsers.push(chromium);
  const opened = await openPage(chromium.browser, `${site.url}/`);
  await opened.page.evaluate((tracker) => {
    window.testClient = new window.bitfleet.Client({ trackers: [tracker], iceUrl: "/ice" });
  }, tracker);
  return opened;
}

/** Deterministic pseudo-random bytes (xorshift32): nothing repeats. Self-contained, so a test
 * can hand it to a page as source text and both sides make the same bytes. */
export function generate(length, seed = 0) {
  const bytes = new Uint8Array(length);
  let x = 0x9e3779b9 ^ seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

export async function assertBuilt() {
  try {
    await readFile(join(webRoot, "pkg", "bitfleet_wasm_bg.wasm"));
  } catch {
    throw new Error("web/pkg is missing: run scripts/build-web.sh first");
  }
}

/** Starts `bitfleet-server` (the tracker) on `host:port`; resolves once it answers. */
export async function startTracker(bin, host, port) {
  const child = spawn(bin, ["--listen", `${host}:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr.on("data", (chunk) => process.stderr.write(`[bitfleet-server] ${chunk}`));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bitfleet-server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`http://${host}:${port}/ice`);
      if (response.ok) return child;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error("bitfleet-server did not come up");
}
