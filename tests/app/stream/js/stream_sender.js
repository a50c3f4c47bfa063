// Interop: the reference ilp-protocol-stream client, a BTP child of an ilpnet connector,
// pays a fixed source amount and prints {"sent", "delivered", "sourceAsset", "destAsset"}.
// usage: node stream_sender.js <btp+ws://:token@host:port/> <destination> <secret b64> <amount>
'use strict'
require('./node20_shim')
const BtpPlugin = require('ilp-plugin-btp')
const { createConnection } = require('ilp-protocol-stream')

const [server, destinationAccount, secret, amount] = process.argv.slice(2)

async function main () {
  const plugin = new BtpPlugin({ server, responseTimeout: 10000 })
  await plugin.connect()
  const connection = await createConnection({
    plugin,
    destinationAccount,
    sharedSecret: Buffer.from(secret, 'base64')
  })
  const stream = connection.createStream()
  await stream.sendTotal(amount, { timeout: 20000 })
  const out = {
    sent: connection.totalSent,
    delivered: connection.totalDelivered,
    sourceAsset: [connection.sourceAssetCode, connection.sourceAssetScale],
    destAsset: [connection.destinationAssetCode, connection.destinationAssetScale]
  }
  await connection.end()
  process.stdout.write(JSON.stringify(out) + '\n')
  await plugin.disconnect()
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
