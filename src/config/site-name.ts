/**
 * Site names (`acme.atlassian.net`) as they may appear in config and on the command line. Only a bare DNS host name
 * ending with an allowed suffix passes, so a config value can never steer the broker's tenant_info request to another
 * host, port, path or userinfo (no SSRF through `site:`).
 */
export const DEFAULT_SITE_SUFFIXES: readonly string[] = ['.atlassian.net']

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** Why `site` is not acceptable, or undefined when it is. */
export function siteNameProblem (
  site: string,
  suffixes: readonly string[] = DEFAULT_SITE_SUFFIXES
): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(site) || /[/?#@:\\\s]/.test(site)) {
    return `"${printable(site)}" is not a bare host name; write it like acme.atlassian.net (no scheme, port, path or user)`
  }
  const host = site.toLowerCase()
  if (host.length > 253 || !host.split('.').every((label) => LABEL.test(label))) {
    return `"${printable(site)}" is not a valid host name`
  }
  const suffix = suffixes.find((allowed) => host.endsWith(allowed.toLowerCase()) && host.length > allowed.length)
  if (suffix === undefined) {
    return `"${printable(site)}" must end with ${suffixes.join(' or ')} (atlassian.siteSuffixes)`
  }
  return undefined
}

/** Accepts what people paste (`https://acme.atlassian.net/jira/…`, `ACME.atlassian.net`) and gives the host name. */
export function normalizeSiteInput (input: string): string {
  const trimmed = input.trim()
  try {
    if (/^https?:\/\//i.test(trimmed)) return new URL(trimmed).hostname.toLowerCase()
  } catch { /* falls through: validation says what is wrong */ }
  return trimmed.toLowerCase()
}

/** The tenant_info URL for a validated site name, from the `atlassian.siteUrl` template. */
export function tenantInfoUrl (siteUrl: string, site: string): string {
  return `${siteUrl.replaceAll('{site}', site).replace(/\/+$/, '')}/_edge/tenant_info`
}

function printable (text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100)
}
