/**
 * Test double for the control run of test/security/bad-token-flood.test.ts, preloaded with `--import` into a child
 * broker: it puts back the verifier setting the broker had before issue 16 (fast-jwt's cache of 10 000 entries, failed
 * verifications included, kept until evicted), so the test can show that the same flood exhausts that broker's heap.
 * It must run before @fastify/jwt loads, which takes `createVerifier` from fast-jwt's exports when first required.
 */
import { createRequire } from 'node:module'

const load = createRequire(import.meta.url)
const fastJwt = createRequire(load.resolve('@fastify/jwt'))('fast-jwt')
const createVerifier = fastJwt.createVerifier
fastJwt.createVerifier = (options) => createVerifier({ ...options, cache: 10_000, cacheTTL: Infinity })
