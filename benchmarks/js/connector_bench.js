// The JavaScript reference side of benchmarks/connector.py: one ilp-connector 23.0.2 with
// two child accounts, each an ilp-plugin-btp 1.5.0 server on its own 127.0.0.1 port. The
// Python benchmark connects its BTP sender and receiver to them, exactly as it does to an
// `ilpnet connector run` process, and drives the same workload.
//
// Usage: node connector_bench.js NODE_MODULES_DIR CONFIG_JSON
// CONFIG_JSON: {"senderPort": P1, "receiverPort": P2}. Prints one JSON line when it listens
// ({"ready": true, versions}), then runs until SIGTERM.
'use strict'

const path = require('path')
const { createRequire } = require('module')

const [modulesDir, configJson] = process.argv.slice(2)
const requireRef = createRequire(path.join(path.resolve(modulesDir), 'connector_bench.js'))
const { createApp } = requireRef('ilp-connector')
const config = JSON.parse(configJson)
const versionOf = (name) => requireRef(`${name}/package.json`).version

// The default rate limit (10,000 packets a minute per account) would cap the benchmark;
// lift it far above what a run sends, and leave every other built-in middleware on.
const noRateLimit = { refillPeriod: 1000, refillCount: 100000000, capacity: 100000000 }

async function main () {
  const connector = createApp({
    ilpAddress: 'test.jsconn',
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    accounts: {
      sender: {
        relation: 'child',
        assetCode: 'USD',
        assetScale: 2,
        plugin: 'ilp-plugin-btp',
        rateLimit: noRateLimit,
        options: { listener: { port: config.senderPort, secret: 'sender-secret' } }
      },
      receiver: {
        relation: 'child',
        assetCode: 'USD',
        assetScale: 2,
        plugin: 'ilp-plugin-btp',
        rateLimit: noRateLimit,
        options: { listener: { port: config.receiverPort, secret: 'receiver-secret' } }
      }
    }
  })
  await connector.listen()
  process.stdout.write(JSON.stringify({
    ready: true,
    versions: {
      node: process.versions.node,
      'ilp-connector': versionOf('ilp-connector'),
      'ilp-plugin-btp': versionOf('ilp-plugin-btp')
    }
  }) + '\n')
  const stop = async () => {
    await connector.shutdown()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n')
  process.exit(1)
})
