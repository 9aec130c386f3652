/**
 * Scenario 4: a large download and a large upload through the proxy, one stream at a time: throughput against the
 * baseline, and how far the proxy's RSS rises above where it stood before (peak from VmHWM after a reset, and from
 * sampling /proc every 20 ms, whichever is higher). Streaming must not buffer: growth stays flat whatever the size.
 */
import { callerToken, STREAM_CALLER, STREAM_INTEGRATION } from '../broker-config.js'
import { download, upload, type StreamResult } from '../load.js'
import { readMemory, resetPeak, sampleRss } from '../processes.js'
import { alternate, median, metric, type Scenario, type Server } from './scenario.js'

const MB = 1_048_576

interface Measured extends StreamResult { rssGrowthBytes: number }

async function withPeak (server: Server, run: () => Promise<StreamResult>): Promise<Measured> {
  const before = readMemory(server.pid).rss
  const exact = resetPeak(server.pid)
  const sampler = sampleRss(server.pid)
  const result = await run()
  const sampled = sampler.stop()
  const peak = Math.max(sampled, exact ? readMemory(server.pid).hwm : 0)
  return { ...result, rssGrowthBytes: Math.max(0, peak - before) }
}

export const streaming: Scenario = {
  name: 'streaming',
  title: 'Streaming download and upload',
  async run ({ settings, broker, baseline, log }) {
    const headers = { authorization: `Bearer ${callerToken(STREAM_CALLER)}` }
    const downloadPath = `/proxy/${STREAM_INTEGRATION}/bench/large?bytes=${settings.downloadBytes}`
    const uploadPath = `/proxy/${STREAM_INTEGRATION}/bench/upload`
    const report = (who: string, what: string, result: Measured): Measured => {
      log(`  ${who} ${what}: ${result.megabytesPerSecond.toFixed(0)} MB/s, RSS +${(result.rssGrowthBytes / MB).toFixed(1)} MB`)
      return result
    }
    // Warm both paths (connections, JIT) on a small stream first.
    await download(baseline.url, `/proxy/${STREAM_INTEGRATION}/bench/large?bytes=${MB}`, headers)
    await download(broker.url, `/proxy/${STREAM_INTEGRATION}/bench/large?bytes=${MB}`, headers)
    const rounds = Math.max(1, Math.min(settings.rounds, 2))
    const downloads = await alternate(rounds, {
      baseline: async () => report('baseline', 'download', await withPeak(baseline, () => download(baseline.url, downloadPath, headers))),
      broker: async () => report('broker  ', 'download', await withPeak(broker, () => download(broker.url, downloadPath, headers)))
    })
    const uploads = await alternate(rounds, {
      baseline: async () => report('baseline', 'upload', await withPeak(baseline, () => upload(baseline.url, uploadPath, headers, settings.uploadBytes))),
      broker: async () => report('broker  ', 'upload', await withPeak(broker, () => upload(broker.url, uploadPath, headers, settings.uploadBytes)))
    })
    const rate = (runs: Measured[]): number => median(runs.map((run) => run.megabytesPerSecond))
    const growth = (runs: Measured[]): number => Math.max(...runs.map((run) => run.rssGrowthBytes)) / MB
    const size = (bytes: number): string => bytes >= 1_073_741_824 ? `${bytes / 1_073_741_824} GiB` : `${bytes / MB} MiB`
    return {
      reference: 'bare undici passthrough',
      metrics: [
        metric(`download ${size(settings.downloadBytes)}`, 'MB/s', rate(downloads.broker), rate(downloads.baseline), 'ratio', { on: 'comparison', op: '>=', value: 0.9 }),
        metric(`upload ${size(settings.uploadBytes)}`, 'MB/s', rate(uploads.broker), rate(uploads.baseline), 'ratio', { on: 'comparison', op: '>=', value: 0.9 }),
        metric('peak RSS growth, download', 'MB', growth(downloads.broker), growth(downloads.baseline), 'difference', { on: 'broker', op: '<', value: 32 }),
        metric('peak RSS growth, upload', 'MB', growth(uploads.broker), growth(uploads.baseline), 'difference', { on: 'broker', op: '<', value: 32 })
      ],
      notes: [`one stream at a time; download chunked from the upstream (no content-length), upload with content-length; ${rounds} alternating round(s), median rate, largest growth`],
      samples: { downloads, uploads }
    }
  }
}
