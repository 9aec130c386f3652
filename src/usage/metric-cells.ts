/**
 * Counters and histograms for what every proxied call updates. prom-client's hash the label object and validate
 * it on each update, which with six updates per call cost about 7% of the hot path's CPU (bench/README.md). Here a
 * series is a cell, found once by its labels and kept by its user; an update is plain arithmetic on it, and the
 * registry reads the cells only when it is scraped. The exposition is prom-client's (the registry formats them).
 */
import type * as Prom from 'prom-client'
import type { Registry } from './prom-parts.js'

type LabelSet<L extends string> = Readonly<Record<L, string>>

export interface CounterCell { value: number }

export interface HistogramCell {
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  readonly counts: number[]
  sum: number
  count: number
}

export interface CellMetricOptions<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  registry: Registry
}

interface Series<L extends string, C> { readonly labels: LabelSet<L>, readonly cell: C }

type Value = Prom.MetricValueWithName<string>

/** What prom-client's registry reads from a metric's get() (registry.js): its name, help, type and values. */
interface Exported { name: string, help: string, type: 'counter' | 'histogram', values: Value[], aggregator: Prom.Aggregator }

abstract class CellMetric<L extends string, C> {
  readonly #series = new Map<string, Series<L, C>>()
  readonly aggregator: Prom.Aggregator = 'sum'

  constructor (
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    registry: Registry,
    readonly type: Exported['type']
  ) {
    // The registry only reads name, get() and reset() (registry.js); these are not prom-client Metric subclasses.
    registry.registerMetric(this as unknown as Prom.Metric)
  }

  /** The series with these labels, made at first use. Keep it: finding it again costs a key. */
  cell (labels: LabelSet<L>): C {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000')
    let series = this.#series.get(key)
    if (series === undefined) {
      const own = {} as Record<L, string>
      for (const name of this.labelNames) own[name] = labels[name]
      series = { labels: own, cell: this.empty() }
      this.#series.set(key, series)
    }
    return series.cell
  }

  /** Zeroes every series in place, so cells kept by their users go on counting. */
  reset (): void {
    for (const { cell } of this.#series.values()) this.zero(cell)
  }

  async get (): Promise<Exported> {
    const values: Value[] = []
    for (const { labels, cell } of this.#series.values()) this.export(labels, cell, values)
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  protected abstract empty (): C
  protected abstract zero (cell: C): void
  protected abstract export (labels: LabelSet<L>, cell: C, into: Value[]): void
}

export class CellCounter<L extends string> extends CellMetric<L, CounterCell> {
  constructor (options: CellMetricOptions<L>) {
    super(options.name, options.help, options.labelNames, options.registry, 'counter')
  }

  protected empty (): CounterCell { return { value: 0 } }
  protected zero (cell: CounterCell): void { cell.value = 0 }
  protected export (labels: LabelSet<L>, cell: CounterCell, into: Value[]): void {
    into.push({ labels, value: cell.value })
  }
}

export class CellHistogram<L extends string> extends CellMetric<L, HistogramCell> {
  readonly #bounds: readonly number[]

  constructor (options: CellMetricOptions<L> & { buckets: readonly number[] }) {
    super(options.name, options.help, options.labelNames, options.registry, 'histogram')
    this.#bounds = [...options.buckets].sort((a, b) => a - b)
  }

  observe (cell: HistogramCell, value: number): void {
    if (!Number.isFinite(value)) return // as prom-client, which throws: a sum that is NaN would stay NaN
    const bounds = this.#bounds
    let bucket = 0
    while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++
    cell.counts[bucket] = (cell.counts[bucket] as number) + 1
    cell.sum += value
    cell.count++
  }

  protected empty (): HistogramCell {
    return { counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 }
  }

  protected zero (cell: HistogramCell): void {
    cell.counts.fill(0)
    cell.sum = 0
    cell.count = 0
  }

  protected export (labels: LabelSet<L>, cell: HistogramCell, into: Value[]): void {
    const bucketName = `${this.name}_bucket`
    let cumulative = 0
    this.#bounds.forEach((bound, index) => {
      cumulative += cell.counts[index] as number
      into.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: bucketName })
    })
    into.push({ labels: { le: '+Inf', ...labels }, value: cell.count, metricName: bucketName })
    into.push({ labels, value: cell.sum, metricName: `${this.name}_sum` })
    into.push({ labels, value: cell.count, metricName: `${this.name}_count` })
  }
}
