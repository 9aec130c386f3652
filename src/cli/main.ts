#!/usr/bin/env node
/**
 * The `atlassian-broker` executable. It turns the compile cache on before importing the command line: an ES module
 * graph is compiled whole before any of it runs, so turned on in command-line.ts it would cover none of its imports.
 */
import { enableCompileCache } from './compile-cache.js'

enableCompileCache()
await import('./command-line.js')
