// The intranet page: the server's catalog, downloads over the swarm, sharing a file.
import init, { Client } from "./pkg/bitfleet_wasm.js";

const $ = (selector) => document.querySelector(selector);
/** One row per torrent: catalog entries, opened links and shared files alike. */
const rows = new Map();
/** Connected peers across torrents, by `${infoHash}/${key}`. */
const peers = new Map();
let client = null;
/** The tracker's token, when the server wants one: the page is opened as `/?token=...`, and the
 * catalog, the .torrent files and the ICE servers want it too. */
const token = new URLSearchParams(location.search).get("token");

main();

/** `path` on this server, with the token when there is one. */
function withToken(path) {
  if (!token) return path;
  const url = new URL(path, location.href);
  url.searchParams.set("token", token);
  return url.pathname + url.search;
}

async function main() {
  let wasm;
  try {
    wasm = await init();
  } catch (err) {
    setEngine("error", "Engine failed to load");
    console.error(err);
    return;
  }
  client = new Client({ iceUrl: withToken("/ice") });
  // For tests and the console.
  window.bitfleet = { client, Client, memory: wasm.memory };
  setEngine("ok", "Ready");
  $("#open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const source = $("#open-source").value.trim();
    if (source) download(source, { name: source.startsWith("magnet:") ? "Magnet link" : source });
    $("#open-source").value = "";
  });
  $("#share-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) share(file);
    event.target.value = "";
  });
  await loadCatalog();
}

function setEngine(kind, text) {
  const pill = $("#engine");
  pill.className = `pill ${kind}`;
  pill.textContent = text;
}

async function loadCatalog() {
  const empty = $("#catalog-empty");
  let entries;
  try {
    const response = await fetch(withToken("/catalog"));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    entries = await response.json();
    if (!Array.isArray(entries)) throw new Error("not a list");
  } catch (err) {
    empty.hidden = false;
    empty.textContent = "This server publishes no catalog. Open a torrent or a magnet link below.";
    return;
  }
  $("#catalog-note").textContent = `${entries.length} published`;
  if (entries.length === 0) {
    empty.hidden = false;
    empty.textContent = "Nothing is published yet.";
  }
  for (const entry of entries) {
    const row = addRow(entry.info_hash, entry.name, entry.size);
    row.swarm.textContent = swarmText(entry.seeds, entry.peers);
    row.action.append(button("Download", "primary", () => download(withToken(entry.torrent_url), entry)));
  }
}

function addRow(infoHash, name, size) {
  const tr = document.createElement("tr");
  tr.innerHTML = `
    <td class="name"><span class="title"></span><span class="hash"></span></td>
    <td class="num size"></td>
    <td class="num swarm muted">—</td>
    <td class="progress-col"><div class="meter"><div class="fill"></div></div><div class="rates muted"></div></td>
    <td class="action"></td>`;
  tr.querySelector(".title").textContent = name;
  tr.querySelector(".hash").textContent = infoHash ? infoHash.slice(0, 12) : "";
  tr.querySelector(".size").textContent = size ? formatBytes(size) : "—";
  $("#catalog tbody").append(tr);
  $("#catalog-empty").hidden = true;
  const row = {
    tr,
    fill: tr.querySelector(".fill"),
    rates: tr.querySelector(".rates"),
    swarm: tr.querySelector(".swarm"),
    action: tr.querySelector(".action"),
    title: tr.querySelector(".title"),
    size: tr.querySelector(".size"),
  };
  if (infoHash) rows.set(infoHash, row);
  return row;
}

async function download(source, entry) {
  let row = entry.info_hash && rows.get(entry.info_hash);
  if (!row) row = addRow(entry.info_hash, entry.name, entry.size);
  row.action.replaceChildren(status("Connecting…"));
  try {
    const torrent = await client.addTorrent(source);
    rows.set(torrent.infoHash, row);
    follow(torrent, row);
  } catch (err) {
    row.action.replaceChildren(status("Failed", "error"));
    row.rates.textContent = String(err.message || err);
  }
}

async function share(file) {
  const row = addRow(null, file.name, file.size);
  row.action.replaceChildren(status("Hashing…"));
  try {
    const torrent = await client.seedFile(file);
    rows.set(torrent.infoHash, row);
    follow(torrent, row);
    row.action.append(button("Copy link", "", () => navigator.clipboard.writeText(torrent.magnet)));
  } catch (err) {
    row.action.replaceChildren(status("Failed", "error"));
    row.rates.textContent = String(err.message || err);
  }
}

function follow(torrent, row) {
  const render = (s) => {
    const fraction = s.pieces ? s.have / s.pieces : 0;
    row.fill.style.width = `${(fraction * 100).toFixed(1)}%`;
    row.tr.classList.toggle("complete", s.done);
    row.rates.textContent = s.metadata
      ? `${Math.floor(fraction * 100)}% · ↓ ${formatRate(s.downRate)} · ↑ ${formatRate(s.upRate)} · ${s.peers} peer${s.peers === 1 ? "" : "s"}`
      : `Finding peers… · ${s.peers} peer${s.peers === 1 ? "" : "s"}`;
    if (s.swarmSeeds || s.swarmLeechers) row.swarm.textContent = swarmText(s.swarmSeeds, s.swarmLeechers);
    if (s.done && !row.saved) {
      row.saved = true;
      row.action.replaceChildren(status("Seeding", "ok"), button("Save", "primary", () => save(torrent)));
    } else if (!s.done && !row.saved) {
      row.action.replaceChildren(status("Downloading"));
    }
  };
  torrent.on("progress", render);
  torrent.on("done", render);
  torrent.on("metadata", (info) => {
    row.title.textContent = info.name;
    row.size.textContent = formatBytes(info.length);
  });
  torrent.on("peer", (peer) => {
    const id = `${torrent.infoHash}/${peer.key}`;
    if (peer.event === "closed") peers.delete(id);
    else peers.set(id, { ...peer, torrent: row.title.textContent });
    renderPeers();
  });
  torrent.on("error", (message) => {
    row.rates.textContent = String(message);
  });
  render(torrent.status());
}

async function save(torrent) {
  const file = await torrent.getFile();
  const url = URL.createObjectURL(file);
  const link = document.createElement("a");
  link.href = url;
  link.download = file.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function renderPeers() {
  const body = $("#peers tbody");
  body.replaceChildren();
  for (const peer of peers.values()) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td><span class="kind"></span></td><td class="mono client"></td><td class="mono address"></td><td class="torrent"></td><td class="muted dir"></td>`;
    const kind = tr.querySelector(".kind");
    kind.textContent = peer.kind;
    kind.classList.add(peer.kind);
    tr.querySelector(".client").textContent = peer.client;
    tr.querySelector(".address").textContent = peer.address || "…";
    tr.querySelector(".torrent").textContent = peer.torrent;
    tr.querySelector(".dir").textContent = peer.outgoing ? "we offered" : "they offered";
    body.append(tr);
  }
  if (peers.size === 0) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td colspan="5" class="empty">No peers connected. Finished downloads stay shared while this tab is open.</td>`;
    body.append(tr);
  }
  $("#peer-count").textContent = peers.size ? `${peers.size} connected` : "";
}

function button(text, kind, onClick) {
  const b = document.createElement("button");
  b.textContent = text;
  if (kind) b.className = kind;
  b.addEventListener("click", onClick);
  return b;
}

function status(text, kind = "") {
  const span = document.createElement("span");
  span.className = `state ${kind}`;
  span.textContent = text;
  return span;
}

function swarmText(seeds, leechers) {
  return `${seeds ?? 0} seed${seeds === 1 ? "" : "s"} · ${leechers ?? 0} getting`;
}

function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

function formatRate(n) {
  return `${formatBytes(n || 0)}/s`;
}
