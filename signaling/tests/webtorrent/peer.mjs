// One WebTorrent peer: the `bittorrent-tracker` npm package's own client, with a real WebRTC
// stack, announcing to the tracker URL given as argument. It waits until a peer found through
// the tracker's offer/answer relay connects over a WebRTC data channel and says hello, then
// scrapes, prints one JSON line of what happened, and stays in the swarm until stdin closes.
// Exits non-zero on error or after a timeout.
//
// Usage: node peer.mjs <ws announce url> <name> <40-hex peer id>
import Client from 'bittorrent-tracker'
import wrtc from '@roamhq/wrtc'

const [announceUrl, name, peerId] = process.argv.slice(2)
const infoHash = '00ff80e9225c01abababababababababababab00'
const result = { name, warnings: [], updates: [], connected: [], received: [], scrape: null }
const timeout = setTimeout(() => fail('timed out'), 30000)

function fail (error) {
  result.error = String(error)
  console.log(JSON.stringify(result))
  process.exit(1)
}

const client = new Client({ infoHash, peerId, announce: [announceUrl], port: 6881, wrtc })
client.on('error', err => fail(err.message))
client.on('warning', err => result.warnings.push(err.message))
client.on('update', data => result.updates.push({ complete: data.complete, incomplete: data.incomplete }))
client.on('peer', peer => {
  peer.on('error', () => {}) // a duplicate connection in the other direction may be dropped
  peer.once('connect', () => {
    result.connected.push(peer.id)
    peer.send(`hello from ${name}`)
    scrapeOnceBothHappened()
  })
  peer.on('data', data => {
    result.received.push(new TextDecoder().decode(data))
    scrapeOnceBothHappened()
  })
})

// The other side's message can arrive before our own 'connect' event fires; the report
// (printed on the scrape reply) must hold both.
let scraped = false
function scrapeOnceBothHappened () {
  if (!scraped && result.connected.length > 0 && result.received.length > 0) {
    scraped = true
    client.scrape()
  }
}
client.once('scrape', data => {
  result.scrape = { complete: data.complete, incomplete: data.incomplete }
  clearTimeout(timeout)
  console.log(JSON.stringify(result))
  process.stdin.resume()
  process.stdin.on('end', () => client.destroy(() => process.exit(0)))
})
client.start()
