// ilp-protocol-stream 2.7.1 assigns `this.closed` in its Duplex stream class; since Node 18,
// Readable.prototype.closed is a getter without setter, so that assignment throws. Give the
// class its own plain accessor (it only ever reads back what it wrote).
'use strict'
const { DataAndMoneyStream } = require('ilp-protocol-stream/dist/src/stream')

Object.defineProperty(DataAndMoneyStream.prototype, 'closed', {
  configurable: true,
  get () { return this._ilpnetClosed === true },
  set (value) { this._ilpnetClosed = value }
})
