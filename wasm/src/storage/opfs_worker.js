// Storage worker: one torrent's payload as one file in the Origin Private File System, pieces at
// their offsets. FileSystemSyncAccessHandle (in-place reads and writes, no swap-file copy) only
// exists in dedicated workers, hence this worker. Requests are handled strictly in order.
let fileHandle = null;
let access = null;
let queue = Promise.resolve();

self.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};

async function handle(request) {
  try {
    const [result, transfer] = await run(request);
    self.postMessage({ id: request.id, result }, transfer);
  } catch (err) {
    self.postMessage({ id: request.id, error: String(err && err.message || err) });
  }
}

async function run(request) {
  switch (request.op) {
    case "open": {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle("bitfleet", { create: true });
      fileHandle = await dir.getFileHandle(request.name, { create: true });
      access = await fileHandle.createSyncAccessHandle();
      const found = access.getSize();
      if (found !== request.length) access.truncate(request.length);
      return [found, []];
    }
    case "write": {
      const data = new Uint8Array(request.data);
      const written = access.write(data, { at: request.offset });
      if (written !== data.length) throw new Error(`short write: ${written} of ${data.length}`);
      return [null, []];
    }
    case "read": {
      const data = new Uint8Array(request.length);
      const read = access.read(data, { at: request.offset });
      if (read !== data.length) throw new Error(`short read: ${read} of ${data.length}`);
      return [data.buffer, [data.buffer]];
    }
    case "file": {
      // A File snapshot is only readable once the writes are on disk.
      access.flush();
      access.close();
      const file = await fileHandle.getFile();
      access = await fileHandle.createSyncAccessHandle();
      return [file, []];
    }
    case "close": {
      if (access) access.close();
      access = null;
      return [null, []];
    }
    default:
      throw new Error(`unknown storage request ${request.op}`);
  }
}
