// Free TCP port helpers for the e2e harness.
import net from 'node:net';

/**
 * Ask the kernel for a free TCP port on 127.0.0.1: bind port 0, read the
 * assigned port, close the socket. The port is free at the time of return;
 * another process could in principle grab it before you bind it, which is
 * acceptable for tests (the kernel hands out ports round-robin).
 *
 * @param {string} [host='127.0.0.1']
 * @returns {Promise<number>}
 */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Get `n` distinct free ports. All sockets are held open until every port has
 * been allocated, so the returned ports are guaranteed to be distinct.
 *
 * @param {number} n
 * @param {string} [host='127.0.0.1']
 * @returns {Promise<number[]>}
 */
export async function freePorts(n, host = '127.0.0.1') {
  /** @type {net.Server[]} */
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      srv.unref();
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host, port: 0, exclusive: true }, () => resolve(undefined));
      });
      servers.push(srv);
    }
    return servers.map((s) => /** @type {net.AddressInfo} */ (s.address()).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
  }
}

/**
 * Resolve once something accepts TCP connections on host:port (single attempt).
 *
 * @param {number} port
 * @param {string} [host='127.0.0.1']
 * @param {number} [timeoutMs=1000]
 * @returns {Promise<boolean>} true if a connection was accepted
 */
export function canConnect(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
