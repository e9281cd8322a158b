// A real OCI registry for the tests: Debian's docker-registry (the CNCF
// distribution registry) on 127.0.0.1 with a port picked at run time and its
// storage in a temporary directory; and skopeo, a real registry client. Both
// are installed by `bash tests/setup.sh oci`; a missing one fails the test
// with that command.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './ports.mjs';
import { startProcess } from './procs.mjs';

const INSTALL = 'Run `bash tests/setup.sh oci` (installs the Debian packages docker-registry and skopeo).';

function binary(name, candidates) {
  for (const p of candidates) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} not found at ${candidates.join(' or ')}. ${INSTALL}`);
}

export const registryBinary = () => binary('docker-registry', ['/usr/bin/docker-registry']);
export const skopeoBinary = () => binary('skopeo', ['/usr/bin/skopeo']);

/** Runs skopeo with args; resolves to its stdout. */
export async function skopeo(...args) {
  const { stdout } = await promisify(execFile)(skopeoBinary(), args, { maxBuffer: 16 << 20 });
  return stdout;
}

/**
 * Starts a registry; `host` is 127.0.0.1:<port>. Stop it with stop(), which
 * also removes its storage.
 * @param {{testName?: string}} [o]
 */
export async function startRegistry(o = {}) {
  const bin = registryBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  // The registry's configuration format (distribution v2.8): storage on disk,
  // HTTP on loopback only, no auth.
  fs.writeFileSync(path.join(dir, 'config.yml'), [
    'version: 0.1',
    'log: {level: info}',
    `storage: {filesystem: {rootdirectory: ${path.join(dir, 'data')}}}`,
    `http: {addr: "${host}"}`,
    '',
  ].join('\n'));
  let proc;
  try {
    proc = await startProcess({
      name: 'registry',
      testName: o.testName ?? 'registry',
      command: bin,
      args: ['serve', path.join(dir, 'config.yml')],
      ready: async () => (await fetch(`http://${host}/v2/`).catch(() => null))?.status === 200,
      readyTimeoutMs: 15000,
    });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host,
    async stop() {
      await proc.stop({ graceMs: 2000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
