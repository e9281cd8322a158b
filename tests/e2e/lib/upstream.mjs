// An "application" upstream for e2e tests: echoes back what reached it.
import http from 'node:http';

/**
 * Headers exactly as received: lower-cased names; a header that occurs more
 * than once becomes an array of its values in arrival order (Node's own
 * `req.headers` would join or drop duplicates).
 * @param {string[]} rawHeaders
 * @returns {Record<string, string|string[]>}
 */
export function headersFromRaw(rawHeaders) {
  /** @type {Record<string, string|string[]>} */
  const out = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    const v = rawHeaders[i + 1];
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

/**
 * @typedef {object} EchoRecord
 * @property {string} method
 * @property {string} path        request target as received (path + query)
 * @property {string|undefined} host
 * @property {Record<string, string|string[]>} headers
 * @property {string} body        request body (utf-8)
 * @property {string} remoteAddress
 */

/**
 * Start an HTTP server on 127.0.0.1 that answers every request with
 * `200 application/json {method, path, host, headers, body}`.
 * Every request is also recorded in `requests` (newest last).
 *
 * @param {{port?: number, host?: string}} [opts]  port 0 (default) = any free port
 * @returns {Promise<{port: number, url: string, requests: EchoRecord[], lastRequest: () => EchoRecord|undefined, close: () => Promise<void>, server: http.Server}>}
 */
export async function startEchoUpstream({ port = 0, host = '127.0.0.1' } = {}) {
  /** @type {EchoRecord[]} */
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const headers = headersFromRaw(req.rawHeaders);
      /** @type {EchoRecord} */
      const rec = {
        method: req.method ?? '',
        path: req.url ?? '',
        host: /** @type {string|undefined} */ (Array.isArray(headers.host) ? headers.host[0] : headers.host),
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        remoteAddress: req.socket.remoteAddress ?? '',
      };
      requests.push(rec);
      const { remoteAddress, ...payload } = rec;
      const text = JSON.stringify(payload);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'x-echo-upstream': '1',
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(undefined));
  });
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    requests,
    lastRequest: () => requests[requests.length - 1],
    server,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
