/**
 * deploy/: every YAML and JSON file parses; every Kubernetes object validates against the Kubernetes schemas and
 * types (kubernetes-schema.ts); the Kustomize base renders, and what it renders validates too and keeps the
 * properties the sidecar design depends on.
 */
import { execFile, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { DEPLOY, filesUnder, isJson, isKubernetesObject, isKustomization, isYaml, parseYamlDocuments, readYamlDocuments, ROOT } from './deploy-files.js'
import { describeObject, schemaProblems, typeProblems, type KubernetesObject } from './kubernetes-schema.js'

const run = promisify(execFile)
const KUBERNETES = path.join(DEPLOY, 'kubernetes')

t.test('every YAML and JSON file under deploy/ parses', async (t) => {
  const files = filesUnder(DEPLOY).filter((file) => isYaml(file) || isJson(file))
  t.ok(files.length >= 8, `found ${files.length} files`)
  for (const file of files) {
    if (isJson(file)) t.doesNotThrow(() => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')), file)
    else t.doesNotThrow(() => readYamlDocuments(file), file)
  }
})

/** Every Kubernetes API object written by hand under deploy/ (not Kustomize's own files). */
function handWrittenObjects (): Array<{ label: string, object: KubernetesObject }> {
  return filesUnder(DEPLOY).filter(isYaml).flatMap((file) => readYamlDocuments(file)
    .filter(isKubernetesObject)
    .filter((object) => !isKustomization(object))
    .map((object) => ({ label: `${file}: ${describeObject(object)}`, object })))
}

t.test('the Kubernetes manifests validate against the Kubernetes schemas and types', async (t) => {
  const objects = handWrittenObjects()
  t.same(objects.map(({ object }) => object.kind).sort(), ['ClusterRoleBinding', 'CronJob', 'NetworkPolicy', 'ServiceAccount'])
  for (const { label, object } of objects) t.same(await schemaProblems(object), [], `${label}: schema`)
  t.same(typeProblems(objects), [], 'no unknown or mistyped field')
})

t.test('the validators catch what they claim to catch', async (t) => {
  const [cronJob] = readYamlDocuments('deploy/kubernetes/cronjob.yaml') as KubernetesObject[]
  /** The CronJob with one change to its broker sidecar. */
  const withSidecar = (change: (sidecar: Record<string, unknown>) => void): KubernetesObject => {
    const copy = structuredClone(cronJob) as {
      spec: { jobTemplate: { spec: { template: { spec: { initContainers: Array<Record<string, unknown>> } } } } }
    }
    change(copy.spec.jobTemplate.spec.template.spec.initContainers[0] as Record<string, unknown>)
    return copy as KubernetesObject
  }
  const wrongType = withSidecar((sidecar) => { sidecar.ports = [{ containerPort: 'eighty-seven' }] })
  t.match((await schemaProblems(wrongType)).join('\n'), /containerPort must be integer/, 'a wrong type is a schema problem')
  const misspelt = withSidecar((sidecar) => { sidecar.restartPolicyy = 'Always' })
  t.same(await schemaProblems(misspelt), [], 'the API schemas allow unknown fields...')
  t.match(typeProblems([{ label: 'misspelt', object: misspelt }]).join('\n'), /misspelt: .*restartPolicyy.* does not exist in type 'IContainer'/, '...the type check does not')
})

/** Longer than a cache hit or a warm build, shorter than tap's per-file timeout (package.json "tap.timeout"). */
const KUSTOMIZE_WAIT_MS = 120_000

/**
 * kustomize.sh finds, or builds once and caches, a kustomize binary; exit 3 means it cannot here (no Go). A first
 * build on a cold Go module cache can outlast the test: the script then goes on in the background (its output in
 * files, so nothing breaks when this process exits) and caches the binary for the next run, and the test skips.
 */
async function findKustomize (): Promise<{ binary?: string, skip?: string }> {
  const logs = mkdtempSync(path.join(tmpdir(), 'kustomize-sh-'))
  const [stdout, stderr] = [path.join(logs, 'stdout'), path.join(logs, 'stderr')]
  const fds = [openSync(stdout, 'w'), openSync(stderr, 'w')] as const
  const child = spawn('bash', [path.join(import.meta.dirname, 'kustomize.sh')], { detached: true, stdio: ['ignore', fds[0], fds[1]] })
  for (const fd of fds) closeSync(fd) // the child has its own copies
  const code = await new Promise<number | null | 'waiting'>((resolve) => {
    const timer = setTimeout(() => resolve('waiting'), KUSTOMIZE_WAIT_MS)
    child.on('close', (exitCode) => { clearTimeout(timer); resolve(exitCode) })
  })
  if (code === 'waiting') {
    child.unref()
    return { skip: `kustomize is still being built (first run, cold Go module cache); it goes on in the background and is cached for the next run (log: ${stderr})` }
  }
  const errors = readFileSync(stderr, 'utf8').trim()
  if (code === 3) return { skip: `kustomize is not available and cannot be built here: ${errors}` }
  if (code !== 0) throw new Error(`test/deploy/kustomize.sh failed with exit code ${code}: ${errors}`)
  return { binary: readFileSync(stdout, 'utf8').trim() }
}
const kustomize = await findKustomize()

t.test('the Kustomize base renders and the result validates', { skip: kustomize.skip ?? false }, async (t) => {
  const binary = kustomize.binary as string
  const { stdout } = await run(binary, ['build', KUBERNETES], { maxBuffer: 16 * 1024 * 1024 })
  const rendered = parseYamlDocuments(stdout, 'kustomize build').filter(isKubernetesObject) as KubernetesObject[]
  const byKind = new Map(rendered.map((object) => [String(object.kind), object]))
  t.same([...byKind.keys()].sort(), ['ConfigMap', 'CronJob', 'NetworkPolicy', 'ServiceAccount'])
  t.equal(rendered.filter((object) => object.kind === 'ConfigMap').length, 2, 'broker config and report script')
  for (const object of rendered) t.same(await schemaProblems(object), [], `rendered ${describeObject(object)}: schema`)
  t.same(typeProblems(rendered.map((object) => ({ label: `rendered ${describeObject(object)}`, object }))), [], 'rendered: types')

  for (const object of rendered) t.equal((object.metadata as { namespace?: string }).namespace, 'reports', `${describeObject(object)} namespace`)
  const configMap = rendered.find((object) => object.kind === 'ConfigMap' && String(object.metadata?.name).startsWith('atlassian-broker-config-')) as { data: Record<string, string>, metadata: { name: string } } | undefined
  t.ok(configMap, 'the broker config map has a content hash suffix')
  t.equal(configMap?.data['config.yaml'], readFileSync(path.join(KUBERNETES, 'broker.yaml'), 'utf8'), 'holds broker.yaml as config.yaml')

  const pod = (byKind.get('CronJob') as { spec: { jobTemplate: { spec: { template: { spec: PodSpec } } } } }).spec.jobTemplate.spec.template.spec
  const broker = pod.initContainers.find((container) => container.name === 'atlassian-broker')
  t.equal(broker?.image, 'registry.example.com/platform/atlassian-broker:0.1.0', 'the images transformer reaches init containers')
  t.ok(pod.volumes.some((volume) => volume.configMap?.name === configMap?.metadata.name), 'the pod mounts the hashed config map name')
})

interface Container {
  name: string
  image: string
  restartPolicy?: string
  securityContext: Record<string, unknown> & { capabilities?: { drop?: string[] }, seccompProfile?: { type?: string } }
  resources: { requests: Record<string, string>, limits: Record<string, string> }
  livenessProbe?: { httpGet?: { path?: string } }
  readinessProbe?: { httpGet?: { path?: string } }
  volumeMounts: Array<{ name: string, mountPath: string }>
}
interface Volume {
  name: string
  configMap?: { name: string }
  emptyDir?: unknown
  projected?: {
    sources: Array<{ serviceAccountToken?: { audience?: string, expirationSeconds?: number, path: string } }>
  }
}
interface PodSpec {
  initContainers: Container[]
  containers: Container[]
  volumes: Volume[]
  automountServiceAccountToken?: boolean
  serviceAccountName?: string
}

t.test('the example job runs the broker as a hardened native sidecar', async (t) => {
  const [cronJob] = readYamlDocuments('deploy/kubernetes/cronjob.yaml') as Array<{ spec: { jobTemplate: { spec: { template: { spec: PodSpec } } } } }>
  const pod = cronJob?.spec.jobTemplate.spec.template.spec as PodSpec
  const broker = pod.initContainers.find((container) => container.name === 'atlassian-broker') as Container
  t.equal(broker.restartPolicy, 'Always', 'native sidecar')
  t.equal(broker.livenessProbe?.httpGet?.path, '/healthz')
  t.equal(broker.readinessProbe?.httpGet?.path, '/readyz')
  t.same(broker.resources, { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } })
  for (const container of [broker, ...pod.containers]) {
    t.match(container.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } }, `${container.name} securityContext`)
  }
  t.equal(pod.automountServiceAccountToken, false, 'no API token beyond the projected ones')
  const callerToken = pod.volumes.find((volume) => volume.name === 'caller-token')?.projected?.sources[0]?.serviceAccountToken
  t.same(callerToken, { audience: 'atlassian-broker', expirationSeconds: 3600, path: 'token' })
  const job = pod.containers[0] as Container
  t.ok(job.volumeMounts.some((mount) => mount.name === 'caller-token'), 'the job reads its caller token')
  t.notOk(broker.volumeMounts.some((mount) => mount.name === 'caller-token'), 'the broker never holds the caller token')
  t.ok(broker.volumeMounts.some((mount) => mount.name === 'broker-data' && mount.mountPath === '/var/lib/atlassian-broker'))
  t.ok(pod.volumes.find((volume) => volume.name === 'broker-data')?.emptyDir, 'the data dir is an emptyDir')
  t.equal(filesUnder(KUBERNETES).some((file) => readFileSync(path.join(ROOT, file), 'utf8').includes('kind: PodDisruptionBudget')), false, 'no PodDisruptionBudget')
})

t.test('the sidecar config matches the manifests', async (t) => {
  const [config] = readYamlDocuments('deploy/kubernetes/broker.yaml') as Array<{ callers: { jwt: Record<string, string> }, secrets: { vault: { auth: Record<string, string> } }, policy: Array<{ caller: string }> }>
  t.match(config?.callers.jwt, { jwksUrl: 'https://kubernetes.default.svc/openid/v1/jwks', audience: 'atlassian-broker', callerClaim: 'sub' })
  t.match(config?.secrets.vault.auth, { method: 'kubernetes', jwtPath: '/var/run/secrets/vault/token' })
  t.equal(config?.policy[0]?.caller, 'system:serviceaccount:reports:report-job', 'the caller is the job\'s service account in the kustomization namespace')
  const kustomization = readYamlDocuments('deploy/kubernetes/kustomization.yaml')[0] as { namespace: string }
  t.equal(kustomization.namespace, 'reports')
})

t.test('the fleet component adds the Redis config and password to the base', { skip: kustomize.skip ?? false }, async (t) => {
  const overlay = mkdtempSync(path.join(tmpdir(), 'fleet-overlay-'))
  const { writeFileSync, cpSync } = await import('node:fs')
  cpSync(KUBERNETES, path.join(overlay, 'base'), { recursive: true })
  writeFileSync(path.join(overlay, 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [base]\ncomponents: [base/fleet]\n')
  const { stdout } = await run(kustomize.binary as string, ['build', overlay], { maxBuffer: 16 * 1024 * 1024 })
  const rendered = parseYamlDocuments(stdout, 'kustomize build (fleet)').filter(isKubernetesObject) as KubernetesObject[]
  for (const object of rendered) t.same(await schemaProblems(object), [], `rendered ${describeObject(object)}: schema`)
  const configMap = rendered.find((object) => object.kind === 'ConfigMap' && String(object.metadata?.name).startsWith('atlassian-broker-config-')) as { data: Record<string, string> } | undefined
  t.equal(configMap?.data['config.yaml'], readFileSync(path.join(KUBERNETES, 'fleet/broker-fleet.yaml'), 'utf8'), 'the config is broker-fleet.yaml')
  const text = JSON.stringify(rendered.find((object) => object.kind === 'CronJob'))
  t.match(text, /"secretName":"atlassian-broker-redis"/, 'the password Secret is a volume')
  t.match(text, /"mountPath":"\/var\/run\/secrets\/redis"/, 'mounted in the sidecar where passwordFile points')
})

t.test('issue 16: /proxy stays inside the pod; probes, the scrape annotation and the NetworkPolicy use the metrics listener', async (t) => {
  const [config] = readYamlDocuments('deploy/kubernetes/broker.yaml') as Array<{ listen: { host: string, port: number }, metrics: { listen: { host: string, port: number } } }>
  const [cronJob] = readYamlDocuments('deploy/kubernetes/cronjob.yaml') as Array<{ spec: { jobTemplate: { spec: { template: { metadata: { annotations: Record<string, string> }, spec: PodSpec } } } } }>
  const template = cronJob?.spec.jobTemplate.spec.template
  type Probed = Container & {
    ports: Array<{ name: string, containerPort: number }>
    startupProbe?: { httpGet?: { port?: string } }
  }
  const broker = template?.spec.initContainers.find((container) => container.name === 'atlassian-broker') as Probed
  const [policy] = readYamlDocuments('deploy/kubernetes/networkpolicy.yaml') as Array<{ spec: { ingress: Array<{ ports: Array<{ port: number }> }> } }>
  const metricsPort = config?.metrics.listen.port
  t.equal(config?.listen.host, '127.0.0.1', '/proxy listens on loopback only')
  t.equal(config?.metrics.listen.host, '0.0.0.0')
  t.not(metricsPort, config?.listen.port, 'a port of its own')
  t.same(broker.ports, [{ name: 'metrics', containerPort: metricsPort, protocol: 'TCP' }], 'the only declared port is the metrics listener')
  for (const probe of [broker.startupProbe, broker.livenessProbe, broker.readinessProbe] as Array<
    { httpGet?: { port?: string } } | undefined
  >) {
    t.equal(
      probe?.httpGet?.port,
      'metrics',
      'probes go to the metrics listener (kubelet reaches the pod IP, not loopback)'
    )
  }
  t.equal(template?.metadata.annotations['prometheus.io/port'], String(metricsPort))
  t.same(policy?.spec.ingress.flatMap((rule) => rule.ports.map((port) => port.port)), [metricsPort], 'ingress admits the metrics port alone')
})
