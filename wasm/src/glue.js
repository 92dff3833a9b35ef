// Small promise-shaped helpers the Rust side would otherwise spell out closure by closure.

/** Resolves once the connection has gathered its ICE candidates (or after `ms`): offers and
 * answers travel whole through the tracker, candidates included, since nothing is trickled. */
export function iceGathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

/** "ip:port" of the remote end of the connection's selected candidate pair, or null. */
export async function remoteAddress(pc) {
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((report) => {
    if (report.type === "transport" && report.selectedCandidatePairId) {
      pairId = report.selectedCandidatePairId;
    }
  });
  if (pairId === null) {
    stats.forEach((report) => {
      if (report.type === "candidate-pair" && report.nominated && report.state === "succeeded") {
        pairId = report.id;
      }
    });
  }
  const pair = pairId && stats.get(pairId);
  const remote = pair && stats.get(pair.remoteCandidateId);
  const ip = remote && (remote.address || remote.ip);
  if (!ip) return null;
  return ip.includes(":") ? `[${ip}]:${remote.port}` : `${ip}:${remote.port}`;
}

/** A worker running `source` (a module script), from a blob URL so the package needs no
 * separately served worker file. */
export function workerFromSource(source) {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  URL.revokeObjectURL(url);
  return worker;
}
