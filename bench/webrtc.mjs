// WebRTC throughput of every Bitfleet path, in one run, against a plain Chromium ↔ Chromium
// data channel measured in the same run; then the page's memory while it holds a 1 GiB torrent.
// Run through bench/webrtc.sh (it builds everything and makes the network namespace).
//
// Bitfleet paths are whole torrent downloads (engine, hashing, storage included), timed from
// the peer handshake to the last piece stored (the time to connect — tracker, offer/answer,
// ICE, DTLS — is printed beside it): native → page (`bitfleet seed`, the page stores into
// OPFS), page → native (`bitfleet get` from a seeding page), page → page. native → native is
// the transport alone (`rtc_throughput` example: two webrtc-rs peers in one process), as is the
// baseline: one data channel between two Chromiums, timed from its first message to its last,
// 16 KiB messages (the size every Bitfleet path sends), the buffer kept under 1 MiB.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtemp, readFile, rm, writeFile, mkdir, readdir, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  serveStatic,
  launchChromium,
  openPage,
  assertBuilt,
  webRoot,
  repo,
  generate,
  startTracker,
  clientPage,
} from "../tests/browser/lib.mjs";
import { withAnnounce } from "../tests/browser/bencode.mjs";

const HOST = process.env.BITFLEET_NETNS_ADDR;
const MIB = Number(process.env.BENCH_MIB ?? 128);
const HOLD_MIB = Number(process.env.BENCH_HOLD_MIB ?? 1024);
// BENCH_PROFILE=1: sample the pages' main threads (CDP Profiler) during the page paths and print
// where their time went.
const PROFILE = process.env.BENCH_PROFILE === "1";
// BENCH_PROFILE_DIR=dir: also write each profile there (.cpuprofile, for DevTools).
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
// BENCH_THREADS=1: also print CPU seconds per thread (process kind and thread name) per path.
const THREADS = process.env.BENCH_THREADS === "1";
// BENCH_PATHS=native-page,page-page: only these paths (the baseline always runs); for profiling.
const ONLY = process.env.BENCH_PATHS?.split(",");
// BENCH_ROUNDS=3: every path (and the baseline) measured this many times, medians reported.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const BASELINE = "chromium -> chromium (channel)";
const release = join(repo, "target", "release");
const TRACKER_PORT = 18100;
const ANNOUNCE = `http://${HOST}:${TRACKER_PORT}/announce`;
const WS_TRACKER = `ws://${HOST}:${TRACKER_PORT}/announce`;

if (!HOST) throw new Error("run bench/webrtc.sh (it needs a network namespace)");
await assertBuilt();
const work = await mkdtemp(join(tmpdir(), "bitfleet-bench-webrtc-"));
const tracker = await startTracker(join(release, "bitfleet-server"), HOST, TRACKER_PORT);
const site = await serveStatic(webRoot, { host: "127.0.0.1", routes: { "/catalog": [], "/ice": { iceServers: [] } } });
const browsers = [];
const children = [];
const results = [];

/** One row: `seconds` from the first byte (torrents: from the peer handshake) to the last. */
function report(path, bytes, seconds, note = "") {
  const mbps = bytes / seconds / 1e6;
  results.push({ path, mbps });
  console.log(`${path.padEnd(30)} ${(bytes / 2 ** 20).toFixed(0).padStart(5)} MiB ${seconds.toFixed(2).padStart(7)} s ${mbps.toFixed(1).padStart(7)} MB/s  ${note}`);
}

/** UDP datagrams the kernel dropped in this namespace because a socket's receive buffer was
 * full: each is an SCTP packet lost, and a lost packet costs SCTP a retransmission and half its
 * congestion window (a timeout of 1 s or more when fast retransmit does not catch it). */
async function udpDrops() {
  const [names, values] = (await readFile("/proc/net/snmp", "utf8")).split("\n").filter((line) => line.startsWith("Udp:"));
  const index = names.split(/\s+/).indexOf("RcvbufErrors");
  return Number(values.split(/\s+/)[index]);
}

function run(bin, args) {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const lines = [];
  createInterface({ input: child.stdout }).on("line", (text) => {
    try {
      lines.push({ ...JSON.parse(text), at: Date.now() });
    } catch {
      // Not a JSON line.
    }
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return { child, lines, exited };
}

async function until(check, what, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs `work` while the CDP profiler samples each of `pages`; prints each page's top
 * self-time functions (and its idle share) under `label`. Returns what `work` returns. */
async function profiled(label, pages, work) {
  if (!PROFILE) return work();
  const sessions = await Promise.all(pages.map((page) => page.context().newCDPSession(page)));
  for (const cdp of sessions) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
    await cdp.send("Profiler.start");
  }
  const result = await work();
  for (const [i, cdp] of sessions.entries()) {
    const { profile } = await cdp.send("Profiler.stop");
    printProfile(`${label}, page ${i + 1}`, profile);
    if (PROFILE_DIR) {
      const name = `${label.replace(/\W+/g, "-")}-page${i + 1}-${Date.now()}.cpuprofile`;
      await writeFile(join(PROFILE_DIR, name), JSON.stringify(profile));
    }
  }
  return result;
}

function printProfile(label, profile) {
  const self = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.split("/").pop()}:${lineNumber + 1}` : "";
    const name = `${functionName || "(anonymous)"} ${where}`.trim();
    self.set(name, (self.get(name) ?? 0) + (node.hitCount ?? 0));
    total += node.hitCount ?? 0;
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
  console.log(`  profile (${label}): ${total} samples`);
  for (const [name, hits] of top) console.log(`    ${((100 * hits) / total).toFixed(1).padStart(5)} %  ${name}`);
}

async function newPage() {
  return (await clientPage(site, WS_TRACKER, browsers)).page;
}

/** Seeds `length` generated bytes from the page; resolves to the torrent's bytes. */
async function pageSeeds(page, length) {
  return Uint8Array.from(
    await page.evaluate(
      async ({ length, generate }) => {
        const bytes = new Function(`return ${generate}`)()(length);
        const torrent = await window.testClient.seedFile(new File([bytes], "bench.bin"));
        window.seeded = torrent;
        torrent.on("peer", (peer) => peer.event === "connected" && (window.connectedAt ??= Date.now()));
        return Array.from(torrent.torrentFile());
      },
      { length, generate: generate.toString() },
    ),
  );
}

/** Downloads in the page; resolves to `{ seconds, setup }`: from the first peer's handshake to
 * done, and from adding the torrent to that handshake (tracker, offer, answer, ICE, DTLS). */
async function pageDownloads(page, torrentBytes) {
  return page.evaluate(async (bytes) => {
    const source = URL.createObjectURL(new Blob([new Uint8Array(bytes)]));
    const started = performance.now();
    const torrent = await window.testClient.addTorrent(source);
    let connected = null;
    torrent.on("peer", (peer) => peer.event === "connected" && (connected ??= performance.now()));
    await new Promise((resolve) => {
      if (torrent.status().done) return resolve();
      torrent.on("done", resolve);
    });
    const done = performance.now();
    torrent.remove();
    connected ??= started;
    return { seconds: (done - connected) / 1000, setup: (connected - started) / 1000 };
  }, Array.from(torrentBytes));
}

/** CPU seconds used from the transfer's start (after browsers launched and a seeding page
 * hashed) to the path's end; a path sets it with `markTransfer`. */
let cpuAtTransfer = null;
let threadsAtTransfer = null;

async function markTransfer() {
  cpuAtTransfer = await cpuSeconds();
  if (THREADS) threadsAtTransfer = await threadSeconds();
}

/** The processes in our network namespace other than this script: the browsers, natives and
 * tracker of the path being measured. */
async function namespacePids() {
  const ownNet = await readlink("/proc/self/ns/net");
  const pids = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    if ((await readlink(`/proc/${pid}/ns/net`).catch(() => "")) === ownNet) pids.push(pid);
  }
  return pids;
}

/** Command name and CPU seconds (user + system) from a `/proc/.../stat` file. */
async function statCpu(path) {
  const stat = await readFile(path, "utf8").catch(() => "");
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
  return { comm, seconds: (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100 }; // USER_HZ
}

/** CPU seconds used so far by the processes of `namespacePids`. */
async function cpuSeconds() {
  let seconds = 0;
  for (const pid of await namespacePids()) seconds += (await statCpu(`/proc/${pid}/stat`)).seconds;
  return seconds;
}

/** CPU seconds used so far per thread kind ("renderer: WebRTC_Network", …) in our namespace. */
async function threadSeconds() {
  const seconds = new Map();
  for (const pid of await namespacePids()) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const kind = /--type=([\w-]+)/.exec(cmdline)?.[1] ?? cmdline.split("\0")[0].split("/").pop();
    const service = /--utility-sub-type=([\w.]+)/.exec(cmdline)?.[1].split(".").pop();
    for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
      const { comm, seconds: used } = await statCpu(`/proc/${pid}/task/${tid}/stat`);
      const name = `${kind}${service ? ` ${service}` : ""}: ${Number(tid) === Number(pid) ? "main" : comm}`;
      seconds.set(name, (seconds.get(name) ?? 0) + used);
    }
  }
  return seconds;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function setupNote(seconds) {
  return `(+${seconds.toFixed(1)} s to connect)`;
}

async function nativeToPage(length) {
  const dir = join(work, "n2p");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "bench.bin"), generate(length));
  const torrent = join(work, "n2p.torrent");
  const create = run(join(release, "bitfleet"), ["create", join(dir, "bench.bin"), "--tracker", ANNOUNCE, "-o", torrent]);
  await create.exited;
  const seed = run(join(release, "bitfleet"), ["seed", torrent, "--dir", dir, "--json", "--skip-check"]);
  await until(() => seed.lines.some((line) => line.event === "started"), "the native seed");
  const page = await newPage();
  const bytes = await readFile(torrent);
  await markTransfer();
  const { seconds, setup } = await profiled("native -> page", [page], () => pageDownloads(page, bytes));
  report("native -> page (torrent)", length, seconds, setupNote(setup));
  seed.child.kill("SIGTERM");
  await seed.exited;
}

async function pageToNative(length) {
  const page = await newPage();
  const torrent = join(work, "p2n.torrent");
  await writeFile(torrent, withAnnounce(await pageSeeds(page, length), ANNOUNCE));
  await markTransfer();
  const started = Date.now();
  // A fresh directory each round: one holding the payload already would make `get` a no-op.
  const out = await mkdtemp(join(work, "p2n-"));
  const get = run(join(release, "bitfleet"), ["get", torrent, "--out", out, "--json"]);
  const code = await profiled("page -> native", [page], () => get.exited);
  if (code !== 0) throw new Error(`bitfleet get exited with ${code}`);
  const done = get.lines.find((line) => line.event === "complete")?.at;
  const connected = await page.evaluate(() => window.connectedAt);
  if (!done || !connected) throw new Error("page -> native: no handshake or no completion seen");
  report("page -> native (torrent)", length, (done - connected) / 1000, setupNote((connected - started) / 1000));
  await page.evaluate(() => window.seeded.remove());
}

async function pageToPage(length) {
  const seeder = await newPage();
  const torrent = await pageSeeds(seeder, length);
  const leecher = await newPage();
  await markTransfer();
  const { seconds, setup } = await profiled("page -> page", [seeder, leecher], () => pageDownloads(leecher, torrent));
  report("page -> page (torrent)", length, seconds, setupNote(setup));
  await seeder.evaluate(() => window.seeded.remove());
}

async function nativeToNative(length) {
  const pair = run(join(release, "examples", "rtc_throughput"), ["--mib", String(Math.round(length / 2 ** 20))]);
  await pair.exited;
  const line = pair.lines.at(-1);
  if (!line) throw new Error("rtc_throughput printed nothing");
  report("native -> native (channel)", line.bytes, line.seconds);
}

/** Two pages, one RTCPeerConnection each, SDP passed by the bench; 16 KiB messages. */
async function chromiumBaseline(length) {
  const [a, b] = [await newPage(), await newPage()];
  const offer = await a.evaluate(async () => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    window.channel = pc.createDataChannel("bench", { ordered: true });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    });
    return pc.localDescription.toJSON();
  });
  const answer = await b.evaluate(async (offer) => {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    window.received = new Promise((resolve) => {
      pc.ondatachannel = ({ channel }) => {
        channel.binaryType = "arraybuffer";
        let got = 0;
        let started = 0;
        channel.onmessage = ({ data }) => {
          if (!started) started = performance.now();
          got += data.byteLength;
          if (got >= window.expected) resolve({ got, seconds: (performance.now() - started) / 1000 });
        };
      };
    });
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    });
    return pc.localDescription.toJSON();
  }, offer);
  await b.evaluate((length) => (window.expected = length), length);
  await markTransfer();
  await a.evaluate(async ({ answer, length }) => {
    await window.pc.setRemoteDescription(answer);
    const channel = window.channel;
    await new Promise((resolve) => (channel.readyState === "open" ? resolve() : (channel.onopen = resolve)));
    channel.bufferedAmountLowThreshold = 64 * 1024;
    const message = new Uint8Array(16 * 1024).fill(0xa5);
    let left = length;
    while (left > 0) {
      while (channel.bufferedAmount > 1024 * 1024) {
        await new Promise((resolve) => (channel.onbufferedamountlow = resolve));
      }
      const n = Math.min(left, message.length);
      channel.send(n === message.length ? message : message.subarray(0, n));
      left -= n;
    }
  }, { answer, length });
  const { got, seconds } = await b.evaluate(() => window.received);
  report(BASELINE, got, seconds, "(baseline)");
}

/** The page's memory while it seeds a HOLD_MIB torrent: a file on disk the page is given as a
 * user would pick it (an <input type=file>), hashed and then served from there. Beside it,
 * Chromium's own cost for a tab: the renderer of an empty tab, in the same browser. */
async function holdingMemory() {
  const held = join(work, "held.bin");
  const part = Buffer.alloc(2 ** 20);
  await writeFile(held, "");
  for (let i = 0; i < HOLD_MIB; i++) {
    part.writeUInt32BE(i, 0);
    await writeFile(held, part, { flag: "a" });
  }
  const chromium = await launchChromium();
  browsers.push(chromium);
  const blank = chromium.browser.pages()[0] ?? (await chromium.browser.newPage());
  await blank.goto("about:blank");
  const empty = await rendererMemory();
  const { page } = await openPage(chromium.browser, `${site.url}/`);
  await blank.close();
  // Its renderer exits shortly; a spare one Chromium keeps would show in the rows' counts.
  await until(async () => (await rendererMemory()).count === 1, "the empty tab's renderer to exit", 10_000).catch(() => {});
  const cdp = await chromium.browser.newCDPSession(page);
  const idle = await settled(cdp);
  await page.evaluate(() => {
    const input = document.createElement("input");
    input.type = "file";
    input.id = "bench-file";
    document.body.append(input);
  });
  await page.setInputFiles("#bench-file", held);
  const seconds = await page.evaluate(async () => {
    window.testClient = new window.bitfleet.Client({ trackers: [], iceUrl: "/ice" });
    const started = performance.now();
    window.held = await window.testClient.seedFile(document.getElementById("bench-file").files[0]);
    return (performance.now() - started) / 1000;
  });
  const holding = await rendererMemory();
  const after = await settled(cdp);
  const wasm = await page.evaluate(() => window.bitfleet.memory.buffer.byteLength);
  const row = (label, m) => console.log(`  ${label.padEnd(44)} RSS ${mib(m.rss).padStart(4)} MiB, private ${mib(m.anon).padStart(4)} MiB${m.heap === undefined ? "" : `, JS heap ${mib(m.heap)} MiB`}${m.count === 1 ? "" : ` (${m.count} renderers)`}`);
  console.log(`\nRenderer memory (hashing the ${HOLD_MIB} MiB file took ${seconds.toFixed(1)} s):`);
  row("an empty tab (Chromium's own)", empty);
  row("the page, idle", idle);
  row(`the page seeding ${HOLD_MIB} MiB, just hashed`, holding);
  row(`the page seeding ${HOLD_MIB} MiB, after a GC`, after);
  console.log(`  peak while hashing: RSS ${mib(after.hwm)} MiB; wasm memory ${mib(wasm)} MiB`);
}

/** The renderer's memory after a full garbage collection, with the JS heap in use. */
async function settled(cdp) {
  await cdp.send("HeapProfiler.collectGarbage");
  await cdp.send("Performance.enable");
  const { metrics } = await cdp.send("Performance.getMetrics");
  const heap = metrics.find((metric) => metric.name === "JSHeapUsedSize")?.value ?? 0;
  return { ...(await rendererMemory()), heap };
}

function mib(bytes) {
  return (bytes / 2 ** 20).toFixed(0);
}

/** Memory of the renderer processes in our network namespace, summed (node shares the pid
 * space, and by the time this runs the only browser open is the one measured): VmRSS, its
 * private part (RssAnon: what the page itself allocated, not shared libraries or shared
 * memory), and VmHWM (the peak RSS). */
async function rendererMemory() {
  const ownNet = await readlink("/proc/self/ns/net");
  const sum = { rss: 0, anon: 0, hwm: 0, count: 0 };
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.includes("--type=renderer")) continue;
    if ((await readlink(`/proc/${pid}/ns/net`).catch(() => "")) !== ownNet) continue;
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    sum.rss += kib("VmRSS");
    sum.anon += kib("RssAnon");
    sum.hwm += kib("VmHWM");
    sum.count += 1;
  }
  return sum;
}

try {
  const length = MIB * 2 ** 20;
  console.log(`WebRTC throughput, ${MIB} MiB per path, one network namespace (veth), this machine:`);
  const paths = { "native-native": nativeToNative, "native-page": nativeToPage, "page-native": pageToNative, "page-page": pageToPage };
  // The machine's load drifts: each round measures the baseline and then every path, and the
  // baseline once more closes the run; every figure is the median of its runs.
  const chosen = Object.entries(paths).filter(([name]) => !ONLY || ONLY.includes(name)).map(([, path]) => path);
  const drops = new Map();
  const cpu = new Map();
  const runs = [...Array.from({ length: ROUNDS }, () => [chromiumBaseline, ...chosen]).flat(), chromiumBaseline];
  for (const path of runs) {
    const before = await udpDrops();
    cpuAtTransfer = null;
    await path(length);
    const name = results.at(-1).path;
    drops.set(name, (drops.get(name) ?? 0) + (await udpDrops()) - before);
    if (cpuAtTransfer !== null) cpu.set(name, [...(cpu.get(name) ?? []), (await cpuSeconds()) - cpuAtTransfer]);
    if (threadsAtTransfer !== null) {
      const used = [...(await threadSeconds())]
        .map(([thread, seconds]) => [thread, seconds - (threadsAtTransfer.get(thread) ?? 0)])
        .filter(([, seconds]) => seconds >= 0.05)
        .sort((a, b) => b[1] - a[1]);
      console.log(`  CPU s per 64 MiB by thread (${name}): ${used.map(([t, s]) => `${t} ${(s * (64 / MIB)).toFixed(2)}`).join("; ")}`);
      threadsAtTransfer = null;
    }
    for (const browser of browsers.splice(0)) await browser.close();
  }
  const byPath = new Map();
  for (const { path, mbps } of results) byPath.set(path, [...(byPath.get(path) ?? []), mbps]);
  const baseline = median(byPath.get(BASELINE));
  console.log(
    "\nmedian MB/s and relative to the Chromium <-> Chromium data channel's median; CPU seconds the path's" +
      " processes used per 64 MiB from the transfer's start (median); UDP datagrams dropped on full receive buffers (lost SCTP packets); every run:",
  );
  for (const [path, runs] of byPath) {
    const figure = median(runs);
    // native -> native runs in a process that is gone by the time it could be read.
    const perUnit = cpu.has(path) ? (median(cpu.get(path)) * (64 / MIB)).toFixed(1) : "-";
    console.log(
      `  ${path.padEnd(30)} ${figure.toFixed(1).padStart(6)} MB/s ${(figure / baseline).toFixed(2).padStart(6)}x` +
        `  ${perUnit.padStart(5)} CPU s  ${String(drops.get(path)).padStart(5)} drops  (${runs.map((mbps) => mbps.toFixed(1)).join(", ")})`,
    );
  }
  if (HOLD_MIB > 0) await holdingMemory();
} finally {
  for (const child of children) child.kill("SIGKILL");
  for (const browser of browsers) await browser.close();
  await site.close();
  tracker.kill("SIGTERM");
  await rm(work, { recursive: true, force: true });
}
