/**
 * nginx in the bench, one process (`master_process off`) so its CPU time is one /proc entry, its config generated
 * into a temporary directory, listening on 127.0.0.1 only: as a reference row (`proxy_pass` to the upstream, one
 * header set, keep-alive upstream connections) and as the hot-path scenario's upstream (`return 200`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { canPin, freePort } from './processes.js'

const NGINX = '/usr/sbin/nginx'

export function hasNginx (): boolean { return existsSync(NGINX) }

async function waitForPort (port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${log()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`nginx did not listen on ${port}: ${log()}`)
}

export interface NginxProcess { url: string, pid: number, stop: () => Promise<void> }

/** `proxy_pass` to the upstream: the non-Node reference row. */
export async function startNginx (upstreamUrl: string, options: { cpus?: string | undefined }): Promise<NginxProcess> {
  const upstream = new URL(upstreamUrl)
  return await launch(`  upstream atlassian { server ${upstream.host}; keepalive 64; }
  server {
    listen 127.0.0.1:PORT;
    location / {
      proxy_pass http://atlassian;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer nginx-access-token";
    }
  }`, options)
}

/**
 * nginx as the upstream itself (the hot-path scenario): `return 200` with the ~1 KB issue body for any request
 * (Content-Length, keep-alive), and the client-credentials exchange in Atlassian's shape at `/oauth/token`. One
 * process in C answers far faster than a proxy can ask, so the proxy under test is never fed in small batches.
 */
export async function startNginxUpstream (body: string, options: { cpus?: string | undefined }): Promise<NginxProcess> {
  const token = JSON.stringify({ access_token: 'bench-nginx-access-token', token_type: 'Bearer', expires_in: 3600 })
  const quoted = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  return await launch(`  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:PORT;
    default_type application/json;
    location = /oauth/token { return 200 ${quoted(token)}; }
    location / { return 200 ${quoted(body)}; }
  }`, options)
}

async function launch (http: string, options: { cpus?: string | undefined }): Promise<NginxProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atlassian-broker-nginx-'))
  chmodSync(dir, 0o755) // as root, nginx's worker user must reach its temp paths
  const port = await freePort()
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http.replace('PORT', String(port))}
}
`
  )
  const args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')]
  const child =
    options.cpus !== undefined && canPin()
      ? spawn('taskset', ['-c', options.cpus, NGINX, ...args], { stdio: 'ignore' })
      : spawn(NGINX, args, { stdio: 'ignore' })
  const errorLog = (): string => {
    try {
      return readFileSync(path.join(dir, 'error.log'), 'utf8')
    } catch {
      return ''
    }
  }
  await waitForPort(port, child, errorLog)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGQUIT')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
