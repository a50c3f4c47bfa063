// The JavaScript reference side of benchmarks/wire.py: ilp-packet 3.1.3 and
// ilp-protocol-stream 2.7.1 on the same packets as the Python side.
//
// Usage: node wire_bench.js NODE_MODULES_DIR CONFIG_JSON
// CONFIG_JSON (written by benchmarks/wire.py) holds the packets' fields, the seconds per
// operation and the repetitions. Prints one JSON object: the encoded packets (hex, so the
// Python side can assert both sides built the same bytes) and ops/s per operation.
'use strict'

const path = require('path')
const { createRequire } = require('module')

const [modulesDir, configJson] = process.argv.slice(2)
if (!modulesDir || !configJson) {
  process.stderr.write('usage: node wire_bench.js NODE_MODULES_DIR CONFIG_JSON\n')
  process.exit(2)
}
const requireRef = createRequire(path.join(path.resolve(modulesDir), 'wire_bench.js'))
const IlpPacket = requireRef('ilp-packet')
const StreamPacket = requireRef('ilp-protocol-stream/dist/src/packet')
const StreamCrypto = requireRef('ilp-protocol-stream/dist/src/crypto')
const config = JSON.parse(configJson)

const hex = (s) => Buffer.from(s, 'hex')
const versionOf = (name) => requireRef(`${name}/package.json`).version

// ---- the packets -----------------------------------------------------------------------

const prepareJson = {
  amount: config.prepare.amount,
  expiresAt: new Date(config.prepare.expiresAt),
  executionCondition: hex(config.prepare.executionCondition),
  destination: config.prepare.destination,
  data: hex(config.prepare.data)
}
const forward = {
  amount: config.forward.amount,
  expiresAt: new Date(config.forward.expiresAt)
}
const fulfillJson = {
  fulfillment: hex(config.fulfill.fulfillment),
  data: hex(config.fulfill.data)
}
const rejectJson = {
  code: config.reject.code,
  triggeredBy: config.reject.triggeredBy,
  message: config.reject.message,
  data: hex(config.reject.data)
}
const prepareRaw = IlpPacket.serializeIlpPrepare(prepareJson)
const fulfillRaw = IlpPacket.serializeIlpFulfill(fulfillJson)
const rejectRaw = IlpPacket.serializeIlpReject(rejectJson)

function buildFrame (f) {
  switch (f.name) {
    case 'StreamMoney':
      return new StreamPacket.StreamMoneyFrame(f.streamId, f.shares)
    case 'StreamData':
      return new StreamPacket.StreamDataFrame(f.streamId, f.offset, hex(f.data))
    case 'ConnectionNewAddress':
      return new StreamPacket.ConnectionNewAddressFrame(f.sourceAccount)
    case 'StreamMaxMoney':
      return new StreamPacket.StreamMaxMoneyFrame(f.streamId, f.receiveMax, f.totalReceived)
    default:
      throw new Error(`wire_bench.js cannot build frame ${f.name}`)
  }
}
const streamPacket = new StreamPacket.Packet(
  config.stream.sequence,
  config.stream.ilpPacketType,
  config.stream.prepareAmount,
  config.stream.frames.map(buildFrame)
)

// ---- timing: the same method as the Python side ----------------------------------------
// Calibrate a loop count until one loop takes >= 20 ms, size each repetition to
// seconds/repetitions, run the repetitions and keep the fastest (best of N).

const nowSeconds = () => Number(process.hrtime.bigint()) / 1e9
let sink = null

function timeSync (fn, arg, n) {
  const start = nowSeconds()
  for (let i = 0; i < n; i++) sink = fn(arg)
  return nowSeconds() - start
}

async function timeAsync (fn, arg, n) {
  const start = nowSeconds()
  for (let i = 0; i < n; i++) sink = await fn(arg)
  return nowSeconds() - start
}

async function measure (timer, fn, arg) {
  let n = 1
  let elapsed = await timer(fn, arg, n)
  while (elapsed < 0.02) {
    n *= 2
    elapsed = await timer(fn, arg, n)
  }
  const perRep = Math.max(1, Math.round((n * config.seconds) / config.repetitions / elapsed))
  let best = Infinity
  for (let r = 0; r < config.repetitions; r++) {
    best = Math.min(best, (await timer(fn, arg, perRep)) / perRep)
  }
  return 1 / best
}

async function main () {
  const key = await StreamCrypto.generatePskEncryptionKey(hex(config.stream.sharedSecret))
  const sealed = await streamPacket.serializeAndEncrypt(key)
  const opened = await StreamPacket.Packet.decryptAndDeserialize(key, sealed)
  if (!opened._serialize().equals(streamPacket._serialize())) {
    throw new Error('STREAM packet did not survive its own round trip')
  }

  // [timer, function, argument] per operation, named as on the Python side.
  const cases = {
    prepare_decode: [timeSync, IlpPacket.deserializeIlpPrepare, prepareRaw],
    // ilp-packet decodes eagerly: reading every field costs nothing more.
    prepare_decode_all_fields: [timeSync, IlpPacket.deserializeIlpPrepare, prepareRaw],
    prepare_encode: [timeSync, IlpPacket.serializeIlpPrepare, prepareJson],
    prepare_build_encode: [timeSync, (j) => IlpPacket.serializeIlpPrepare({
      amount: j.amount,
      expiresAt: j.expiresAt,
      executionCondition: j.executionCondition,
      destination: j.destination,
      data: j.data
    }), prepareJson],
    prepare_forward_encode: [timeSync, (j) => IlpPacket.serializeIlpPrepare(
      { ...j, amount: forward.amount, expiresAt: forward.expiresAt }), prepareJson],
    fulfill_decode: [timeSync, IlpPacket.deserializeIlpFulfill, fulfillRaw],
    fulfill_encode: [timeSync, IlpPacket.serializeIlpFulfill, fulfillJson],
    reject_decode: [timeSync, IlpPacket.deserializeIlpReject, rejectRaw],
    reject_encode: [timeSync, IlpPacket.serializeIlpReject, rejectJson],
    stream_encrypt_encode: [timeAsync, (p) => p.serializeAndEncrypt(key), streamPacket],
    stream_decrypt_decode: [
      timeAsync, (b) => StreamPacket.Packet.decryptAndDeserialize(key, b), sealed]
  }
  // One operation per node process (the caller's choice) keeps V8's JIT state of one
  // measurement from affecting the next.
  const ops = {}
  for (const name of config.operations || Object.keys(cases)) {
    if (!cases[name]) throw new Error(`unknown operation ${name}`)
    ops[name] = await measure(...cases[name])
  }
  if (sink === null) throw new Error('nothing was measured')

  process.stdout.write(JSON.stringify({
    runtime: `node ${process.version}`,
    packages: {
      'ilp-packet': versionOf('ilp-packet'),
      'ilp-protocol-stream': versionOf('ilp-protocol-stream')
    },
    encoded: {
      prepare: prepareRaw.toString('hex'),
      fulfill: fulfillRaw.toString('hex'),
      reject: rejectRaw.toString('hex'),
      stream_plaintext: streamPacket._serialize().toString('hex'),
      stream_sealed: sealed.toString('hex')
    },
    ops
  }) + '\n')
}

main().catch((err) => {
  process.stderr.write(`wire_bench.js: ${err.stack || err}\n`)
  process.exit(1)
})
