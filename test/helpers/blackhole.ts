/**
 * An address where TCP connects hang, for connect-timeout tests: a listener with a backlog of one in a worker thread
 * whose event loop is blocked, so it never accepts; once its accept queue is filled, the kernel drops further SYNs and
 * a connect neither succeeds nor fails until the client's own timeout. Loopback only, no root, no firewall rules.
 */
import net from 'node:net'
import { Worker } from 'node:worker_threads'

const LISTENER = `
const net = require('node:net')
const { parentPort } = require('node:worker_threads')
const server = net.createServer(() => {}).listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port)
  setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0))
})`

export interface Blackhole { url: string, close: () => Promise<void> }

export async function startBlackhole (): Promise<Blackhole> {
  const worker = new Worker(LISTENER, { eval: true })
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  // Fill the accept queue (backlog + 1 on Linux); from then on connects hang.
  const fillers: net.Socket[] = []
  for (;;) {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    fillers.push(socket)
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true))
      setTimeout(() => resolve(false), 200)
    })
    if (!connected || fillers.length > 16) break
  }
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of fillers) socket.destroy()
      await worker.terminate()
    }
  }
}
