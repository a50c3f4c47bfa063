// The JavaScript reference side of benchmarks/stream.py: an ilp-protocol-stream 2.7.1
// sender pays an ilp-protocol-stream receiver through an ilp-connector 23.0.2, all three
// joined by ilp-plugin-btp 1.5.0 over WebSockets on 127.0.0.1, in this one node process.
//
// Usage: node stream_bench.js NODE_MODULES_DIR CONFIG_JSON
// CONFIG_JSON: {"packets": N, "packetAmount": A, "senderPort": P1, "receiverPort": P2}.
// The sender's connector account has maxPacketAmount A, so a payment of N*A goes in N
// packets. Prints one JSON object: packets, amount sent and delivered, seconds, packets/s.
'use strict'

const path = require('path')
const { createRequire } = require('module')

const [modulesDir, configJson] = process.argv.slice(2)
const requireRef = createRequire(path.join(path.resolve(modulesDir), 'stream_bench.js'))

// ilp-protocol-stream 2.7.1 assigns `this.closed` on its Duplex stream; Node >= 18 made
// Readable.prototype.closed a getter, so give the class a plain accessor again.
const { DataAndMoneyStream } = requireRef('ilp-protocol-stream/dist/src/stream')
Object.defineProperty(DataAndMoneyStream.prototype, 'closed', {
  configurable: true,
  get () { return this._benchClosed === true },
  set (value) { this._benchClosed = value }
})

const { createApp } = requireRef('ilp-connector')
const BtpPlugin = requireRef('ilp-plugin-btp')
const { createConnection, createServer } = requireRef('ilp-protocol-stream')
const config = JSON.parse(configJson)
const versionOf = (name) => requireRef(`${name}/package.json`).version

async function main () {
  const total = config.packets * config.packetAmount
  const connector = createApp({
    ilpAddress: 'test.jsconn',
    backend: 'one-to-one',
    spread: 0,
    accounts: {
      sender: {
        relation: 'child',
        assetCode: 'USD',
        assetScale: 2,
        plugin: 'ilp-plugin-btp',
        maxPacketAmount: String(config.packetAmount),
        options: { listener: { port: config.senderPort, secret: 'sender-secret' } }
      },
      receiver: {
        relation: 'child',
        assetCode: 'USD',
        assetScale: 2,
        plugin: 'ilp-plugin-btp',
        options: { listener: { port: config.receiverPort, secret: 'receiver-secret' } }
      }
    }
  })
  await connector.listen()

  const receiverPlugin = new BtpPlugin({
    server: `btp+ws://:receiver-secret@127.0.0.1:${config.receiverPort}`
  })
  const server = await createServer({ plugin: receiverPlugin })
  let received = 0n
  const done = new Promise((resolve) => {
    server.on('connection', (connection) => {
      connection.on('stream', (stream) => {
        stream.setReceiveMax(Infinity)
        stream.on('money', (amount) => {
          received += BigInt(amount)
          if (received >= BigInt(total)) resolve()
        })
      })
    })
  })
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()

  const senderPlugin = new BtpPlugin({
    server: `btp+ws://:sender-secret@127.0.0.1:${config.senderPort}`
  })
  await senderPlugin.connect()
  const connection = await createConnection({
    plugin: senderPlugin,
    destinationAccount,
    sharedSecret
  })
  const stream = connection.createStream()
  // the rate probe ran in createConnection; time the payment alone, as the Python side does
  const started = process.hrtime.bigint()
  await stream.sendTotal(total, { timeout: 600000 })
  await done
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const out = {
    packets: config.packets,
    sent: connection.totalSent,
    delivered: received.toString(),
    seconds,
    packetsPerSecond: config.packets / seconds,
    versions: {
      node: process.version,
      'ilp-protocol-stream': versionOf('ilp-protocol-stream'),
      'ilp-connector': versionOf('ilp-connector'),
      'ilp-plugin-btp': versionOf('ilp-plugin-btp')
    }
  }
  await connection.end()
  await senderPlugin.disconnect()
  await server.close()
  await receiverPlugin.disconnect()
  await connector.shutdown()
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
