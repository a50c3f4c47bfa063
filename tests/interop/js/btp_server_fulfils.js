// Interop (b): the reference ilp-plugin-btp listens as a BTP server (listener mode) and
// fulfils the Prepares an ilpnet BtpClientLink sends it.
// usage: node btp_server_fulfils.js <secret> <fulfillment hex>
// Prints {"port": N} once listening, then one JSON line per Prepare it fulfilled;
// exits when stdin closes.
'use strict'
const BtpPlugin = require('ilp-plugin-btp')
const IlpPacket = require('ilp-packet')

const [secret, fulfillmentHex] = process.argv.slice(2)
const plugin = new BtpPlugin({ listener: { port: 0, secret } })

plugin.registerDataHandler(async (data) => {
  const prepare = IlpPacket.deserializeIlpPrepare(data)
  process.stdout.write(JSON.stringify({
    prepare: {
      amount: prepare.amount,
      destination: prepare.destination,
      executionCondition: prepare.executionCondition.toString('hex'),
      expiresAt: prepare.expiresAt.toISOString(),
      data: prepare.data.toString('utf8')
    }
  }) + '\n')
  return IlpPacket.serializeIlpFulfill({
    fulfillment: Buffer.from(fulfillmentHex, 'hex'),
    data: Buffer.from('fulfilled by javascript')
  })
})

const connecting = plugin.connect()
// connect() builds the WebSocket server synchronously; report its port once it listens
plugin._wss.on('listening', () => {
  process.stdout.write(JSON.stringify({ port: plugin._wss.address().port }) + '\n')
})
connecting.catch((err) => process.stderr.write('connect failed: ' + err + '\n'))

process.stdin.resume()
process.stdin.on('end', () => {
  plugin.disconnect().then(() => process.exit(0), () => process.exit(0))
})
