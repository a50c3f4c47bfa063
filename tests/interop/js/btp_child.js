// Interop (a): the reference ilp-plugin-btp connects to an ilpnet BtpServer as a child.
// It sends one ILP Prepare and prints the reply as one JSON line on stdout; then it
// fulfils the Prepares its parent sends (printing each), until stdin closes.
// usage: node btp_child.js <btp+ws://:token@host:port/> <condition hex> <amount> <fulfillment hex>
'use strict'
const crypto = require('crypto')
const BtpPlugin = require('ilp-plugin-btp')
const IlpPacket = require('ilp-packet')

const [server, conditionHex, amount, fulfillmentHex] = process.argv.slice(2)

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function main () {
  const plugin = new BtpPlugin({ server, responseTimeout: 10000 })
  plugin.registerDataHandler(async (data) => {
    const prepare = IlpPacket.deserializeIlpPrepare(data)
    print({
      incoming: {
        amount: prepare.amount,
        destination: prepare.destination,
        data: prepare.data.toString('utf8')
      }
    })
    return IlpPacket.serializeIlpFulfill({
      fulfillment: Buffer.from(fulfillmentHex, 'hex'),
      data: Buffer.from('child fulfilled')
    })
  })
  await plugin.connect()
  const prepare = IlpPacket.serializeIlpPrepare({
    amount,
    executionCondition: Buffer.from(conditionHex, 'hex'),
    expiresAt: new Date(Date.now() + 30000),
    destination: 'test.parent.receiver',
    data: Buffer.from('hello from javascript')
  })
  const reply = IlpPacket.deserializeIlpPacket(await plugin.sendData(prepare))
  const out = { type: reply.type }
  if (reply.type === IlpPacket.Type.TYPE_ILP_FULFILL) {
    out.fulfillment = reply.data.fulfillment.toString('hex')
    out.data = reply.data.data.toString('utf8')
    out.fulfillmentMatches = crypto.createHash('sha256')
      .update(reply.data.fulfillment).digest('hex') === conditionHex
  } else {
    out.code = reply.data.code
    out.message = reply.data.message
  }
  print({ reply: out })
  process.stdin.resume()
  await new Promise((resolve) => process.stdin.on('end', resolve))
  await plugin.disconnect()
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
