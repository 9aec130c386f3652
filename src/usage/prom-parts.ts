/**
 * The parts of prom-client the broker uses (Registry, Counter, Gauge, Histogram), loaded without its index: the index
 * also loads the default process metrics (and through them @opentelemetry/api), the Pushgateway and the cluster
 * aggregator, about 10 MB of RSS and 100 ms at every start for code `serve` never runs (bench/README.md, "footprint").
 */
import { createRequire } from 'node:module'
import type * as Prom from 'prom-client'

const require = createRequire(import.meta.url)

export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram
export type Registry = Prom.Registry
export type Counter<T extends string = string> = Prom.Counter<T>
export type Gauge<T extends string = string> = Prom.Gauge<T>
export type Histogram<T extends string = string> = Prom.Histogram<T>
