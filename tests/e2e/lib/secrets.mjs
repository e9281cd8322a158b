// Secrets a login handles, gathered from where they really travelled, and a
// check that none of them (nor a telling piece of one) is in a log.
//
// Gathered: the client secret and the filter's secret; from the stand-in's
// request log, every authorization code and PKCE verifier sent to the token
// endpoint, the Basic credentials and Bearer tokens sent, and every access,
// ID and refresh token it answered with; from browsers' redirect chains,
// every `code`, `state` and `nonce` in a URL and every cookie value set.

/**
 * @typedef {{what: string, value: string}} Secret
 */

/**
 * @param {{op?: any, browsers?: any[], fixed?: Record<string, string>}} sources
 * @returns {Secret[]}
 */
export function collectSecrets({ op, browsers = [], fixed = {} }) {
  /** @type {Secret[]} */
  const out = Object.entries(fixed).map(([what, value]) => ({ what, value }));
  const add = (what, value) => {
    if (typeof value === 'string' && value.length >= 8) out.push({ what, value });
  };
  for (const q of op?.requests ?? []) {
    add(`${q.endpoint} request: authorization header`, q.headers?.authorization?.replace(/^(Basic|Bearer) /i, ''));
    for (const name of ['code', 'code_verifier', 'client_secret', 'refresh_token']) add(`${q.endpoint} request: ${name}`, q.form?.[name]);
    for (const name of ['state', 'nonce', 'id_token_hint']) add(`${q.endpoint} request: ${name}`, q.query?.[name]);
    for (const name of ['access_token', 'id_token', 'refresh_token']) add(`${q.endpoint} response: ${name}`, q.response?.[name]);
  }
  for (const b of browsers) {
    for (const hop of b.last?.chain ?? []) addHop(add, hop);
    for (const hop of b.hops ?? []) addHop(add, hop);
    for (const c of b.jar.list()) add(`cookie ${c.name}`, c.value);
  }
  return out;
}

function addHop(add, hop) {
  for (const url of [hop.url, hop.location]) {
    if (!url) continue;
    let parsed;
    try {
      parsed = new URL(url, 'http://x.invalid');
    } catch {
      continue;
    }
    for (const name of ['code', 'state', 'nonce', 'id_token_hint']) add(`URL parameter ${name}`, parsed.searchParams.get(name));
  }
  for (const header of hop.setCookie ?? []) {
    const pair = header.split(';')[0];
    const i = pair.indexOf('=');
    if (i > 0) add(`Set-Cookie ${pair.slice(0, i)}`, pair.slice(i + 1));
  }
}

/**
 * The telling pieces of a secret: the whole value, each part of a JWT (header
 * excepted: every JWT's starts alike), and a 16-character piece from the
 * middle of anything long, which catches a value cut short or wrapped.
 * @param {string} value
 */
export function pieces(value) {
  const out = new Set([value]);
  const parts = value.split('.');
  if (parts.length === 3) {
    for (const part of parts.slice(1)) if (part.length >= 16) out.add(part);
  }
  if (value.length >= 32) {
    const mid = Math.floor(value.length / 2) - 8;
    out.add(value.slice(mid, mid + 16));
  }
  return [...out];
}

/**
 * Fails when any line of `logs` contains a secret or a telling piece of one,
 * naming the secret and quoting the line.
 * @param {string} logs  every line Envoy wrote
 * @param {Secret[]} secrets
 * @returns {{lines: number, secrets: number}}
 */
export function assertNoSecrets(logs, secrets) {
  const lines = logs.split('\n');
  const unique = new Map();
  for (const s of secrets) if (!unique.has(s.value)) unique.set(s.value, s.what);
  for (const [value, what] of unique) {
    for (const piece of pieces(value)) {
      const hit = lines.find((line) => line.includes(piece));
      if (hit !== undefined) {
        throw new Error(`a log line contains ${what}${piece === value ? '' : ` (a piece of it: ${piece})`}:\n${hit}`);
      }
    }
  }
  return { lines: lines.length, secrets: unique.size };
}
