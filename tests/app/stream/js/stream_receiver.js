// Interop: the reference ilp-protocol-stream server, a BTP child of an ilpnet connector.
// Prints {"destinationAccount", "sharedSecret"(base64)} once, then one {"money", "total"}
// line per amount received, until stdin closes.
// usage: node stream_receiver.js <btp+ws://:token@host:port/>
'use strict'
require('./node20_shim')
const BtpPlugin = require('ilp-plugin-btp')
const { createServer } = require('ilp-protocol-stream')

const [server] = process.argv.slice(2)

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function main () {
  const plugin = new BtpPlugin({ server, responseTimeout: 10000 })
  const streamServer = await createServer({ plugin })
  let total = 0n // connection.totalReceived is updated only after the 'money' event
  streamServer.on('connection', (connection) => {
    connection.on('stream', (stream) => {
      stream.setReceiveMax(Infinity)
      stream.on('money', (amount) => {
        total += BigInt(amount)
        print({ money: amount, total: total.toString() })
      })
    })
  })
  const { destinationAccount, sharedSecret } = streamServer.generateAddressAndSecret()
  print({ destinationAccount, sharedSecret: sharedSecret.toString('base64') })
  process.stdin.resume()
  await new Promise((resolve) => process.stdin.on('end', resolve))
  await streamServer.close()
  await plugin.disconnect()
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
