// Child-process management for the e2e harness.
//
// Every process started here:
//   * runs in its own process group (detached), so stop() kills the whole
//     group (wrappers, shells and their children included);
//   * is started under `setpriv --pdeathsig SIGKILL` when util-linux setpriv is
//     available, so the kernel kills it even if the test process is SIGKILLed;
//   * is registered in a module-level set; a process 'exit' hook (and SIGINT /
//     SIGTERM / SIGHUP handlers, when nobody else handles those) SIGKILLs every
//     process group that is still alive, so a failed or crashed test never
//     leaves an orphaned Envoy behind;
//   * has its stdout+stderr captured into an in-memory line buffer and into
//     tests/e2e/.artifacts/<test-name>/<name>.log for post-mortem debugging.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Absolute path of tests/e2e. */
export const E2E_DIR = path.resolve(HERE, '..');
/** Absolute path of the repository root. */
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');
/** Root folder for per-test debugging artifacts (git-ignored). */
export const ARTIFACTS_ROOT = path.join(E2E_DIR, '.artifacts');

/** @type {Set<ManagedProcess>} */
const live = new Set();

let setprivPath = /** @type {string|null|undefined} */ (undefined);
function findSetpriv() {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      execFileSync(p, ['--pdeathsig', 'SIGKILL', '--', '/bin/true'], { stdio: 'ignore', timeout: 5000 });
      setprivPath = p;
      break;
    } catch {
      /* not usable */
    }
  }
  return setprivPath;
}

/**
 * A fresh file path in tests/e2e/.artifacts/<test-name>/ (base.ext, base-2.ext, ...
 * unique within this process; files from earlier runs are overwritten).
 * @param {string} testName @param {string} base @param {string} ext  e.g. '.json'
 * @returns {string}
 */
export function artifactFile(testName, base, ext) {
  return uniqueFile(artifactDir(testName), sanitizeName(base), ext);
}

/**
 * Turn a test name into a safe directory/file name.
 * @param {string} s
 * @returns {string}
 */
export function sanitizeName(s) {
  const out = String(s)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|_+$/g, '')
    .slice(0, 100);
  return out || 'unnamed';
}

/**
 * Create (if needed) and return tests/e2e/.artifacts/<test-name>/.
 * @param {string} testName
 * @returns {string} absolute directory path
 */
export function artifactDir(testName) {
  const dir = path.join(ARTIFACTS_ROOT, sanitizeName(testName));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Log files handed out by this process (so a re-run overwrites the previous run's logs). */
const usedFiles = new Set();

/**
 * Pick a file name in `dir` not yet used by this process: base.ext, base-2.ext, ...
 * Files left by an earlier run are overwritten.
 * @param {string} dir @param {string} base @param {string} ext
 */
function uniqueFile(dir, base, ext) {
  for (let i = 1; ; i++) {
    const f = path.join(dir, i === 1 ? `${base}${ext}` : `${base}-${i}${ext}`);
    if (!usedFiles.has(f)) {
      usedFiles.add(f);
      return f;
    }
  }
}

/** Remove the global/sticky flags so RegExp#test is stateless. */
function statelessRegex(re) {
  if (typeof re === 'string') return new RegExp(re.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!re.global && !re.sticky) return re;
  return new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
}

/**
 * @typedef {object} SpawnOptions
 * @property {string} name               short name used in messages and the log file name (e.g. 'envoy')
 * @property {string} command            executable
 * @property {string[]} [args]
 * @property {NodeJS.ProcessEnv} [env]   full environment (default: process.env)
 * @property {string} [cwd]
 * @property {string} [testName]         artifacts sub-folder (default: t?.name, else 'misc')
 * @property {import('node:test').TestContext} [t]  if given: artifacts named after t.name and
 *                                       t.after() stops the process when the test ends
 * @property {string|false} [logFile]    explicit log file, or false for no file
 * @property {number} [maxLines=200000]  in-memory line cap (oldest lines are dropped)
 * @property {boolean} [pdeathsig=true]  wrap with `setpriv --pdeathsig SIGKILL` when available
 */

/**
 * A spawned child whose output is captured and whose process group is
 * killed on stop() or when the test process exits.
 */
export class ManagedProcess {
  /** @param {SpawnOptions} opts */
  constructor(opts) {
    const { name, command, args = [], env = process.env, cwd, t, maxLines = 200000, pdeathsig = true } = opts;
    if (!name) throw new Error('spawnProcess: name is required');
    if (!command) throw new Error('spawnProcess: command is required');
    this.name = name;
    this.command = command;
    this.args = args;
    this.maxLines = maxLines;
    /** @type {string[]} */
    this._lines = [];
    this._dropped = 0;
    this._partial = { stdout: '', stderr: '' };
    /** @type {Set<(line: string) => void>} */
    this._lineListeners = new Set();
    /** @type {number|null} */
    this.exitCode = null;
    /** @type {NodeJS.Signals|null} */
    this.signalCode = null;
    this.exited = false;
    this.stopping = false;

    const testName = opts.testName ?? t?.name ?? 'misc';
    this.artifactDir = opts.logFile === false ? null : artifactDir(testName);
    this.logFile =
      opts.logFile === false ? null : opts.logFile || uniqueFile(/** @type {string} */ (this.artifactDir), sanitizeName(name), '.log');
    this._fd = this.logFile ? fs.openSync(this.logFile, 'w') : null;
    if (this._fd !== null) {
      fs.writeSync(this._fd, `# ${[command, ...args].join(' ')}\n`);
    }

    let cmd = command;
    let argv = args;
    const sp = pdeathsig ? findSetpriv() : null;
    if (sp) {
      cmd = sp;
      argv = ['--pdeathsig', 'SIGKILL', '--', command, ...args];
    }
    this.child = spawn(cmd, argv, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    live.add(this);

    /** @type {Promise<{code: number|null, signal: NodeJS.Signals|null}>} */
    this.exitPromise = new Promise((resolve) => {
      let spawnError = null;
      this.child.once('error', (err) => {
        // ENOENT/EACCES: the process never ran.
        spawnError = err;
        this._append('stderr', `[harness] failed to spawn ${command}: ${err.message}\n`);
        if (this.pid === undefined) finish(127, null);
      });
      const finish = (code, signal) => {
        if (this.exited) return;
        this._flushPartials();
        this.exited = true;
        this.exitCode = code;
        this.signalCode = signal;
        this.spawnError = spawnError;
        live.delete(this);
        if (this._fd !== null) {
          try {
            fs.writeSync(this._fd, `# exited code=${code} signal=${signal}\n`);
            fs.closeSync(this._fd);
          } catch {
            /* ignore */
          }
          this._fd = null;
        }
        resolve({ code, signal });
      };
      this.child.once('close', (code, signal) => finish(code, signal));
    });
    this.child.stdout?.on('data', (b) => this._append('stdout', b.toString('utf8')));
    this.child.stderr?.on('data', (b) => this._append('stderr', b.toString('utf8')));

    if (t && typeof t.after === 'function') t.after(() => this.stop());
  }

  /** @param {'stdout'|'stderr'} stream @param {string} text */
  _append(stream, text) {
    if (this._fd !== null) {
      try {
        fs.writeSync(this._fd, text);
      } catch {
        /* ignore */
      }
    }
    const parts = (this._partial[stream] + text).split('\n');
    this._partial[stream] = /** @type {string} */ (parts.pop());
    for (const line of parts) this._pushLine(line);
  }

  _flushPartials() {
    for (const s of /** @type {const} */ (['stdout', 'stderr'])) {
      if (this._partial[s]) {
        this._pushLine(this._partial[s]);
        this._partial[s] = '';
      }
    }
  }

  /** @param {string} line */
  _pushLine(line) {
    this._lines.push(line);
    if (this._lines.length > this.maxLines) {
      const n = this._lines.length - this.maxLines;
      this._lines.splice(0, n);
      this._dropped += n;
    }
    for (const fn of this._lineListeners) fn(line);
  }

  /** Whether the process is still running. */
  get running() {
    return !this.exited;
  }

  /**
   * All captured output lines (stdout and stderr interleaved in arrival order).
   * @returns {string[]}
   */
  lines() {
    return this._lines.slice();
  }

  /**
   * All captured output as one string.
   * @returns {string}
   */
  logs() {
    return this._lines.join('\n');
  }

  /**
   * The last `n` output lines as one string (for error messages).
   * @param {number} [n=40]
   */
  tail(n = 40) {
    return this._lines.slice(-n).join('\n');
  }

  /**
   * A position in the log; pass it as `since` to waitForLog()/logsSince() to
   * only consider lines written afterwards.
   * @returns {number}
   */
  mark() {
    return this._dropped + this._lines.length;
  }

  /**
   * Lines written after `mark` (see mark()).
   * @param {number} mark
   * @returns {string[]}
   */
  linesSince(mark) {
    return this._lines.slice(Math.max(0, mark - this._dropped));
  }

  /**
   * Wait for an output line matching `regex` (already-captured lines count,
   * unless `since` is given). Rejects on timeout or if the process exits first.
   * @param {RegExp|string} regex  (a string matches as a literal substring)
   * @param {number} [timeoutMs=10000]
   * @param {{since?: number}} [opts]
   * @returns {Promise<string>} the matching line
   */
  waitForLog(regex, timeoutMs = 10000, opts = {}) {
    const re = statelessRegex(regex);
    const since = opts.since ?? 0;
    const found = this.linesSince(since).find((l) => re.test(l));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this._lineListeners.delete(onLine);
      };
      const onLine = (line) => {
        if (re.test(line)) {
          cleanup();
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `${this.name}: no log line matching ${re} within ${timeoutMs} ms; last 40 lines:\n${this.tail(40)}`,
          ),
        );
      }, timeoutMs);
      this._lineListeners.add(onLine);
      this.exitPromise.then(() => {
        if (!this._lineListeners.has(onLine)) return;
        cleanup();
        reject(
          new Error(
            `${this.name} exited (${this.describeExit()}) before logging a line matching ${re}; last 40 lines:\n${this.tail(40)}`,
          ),
        );
      });
    });
  }

  /** "code 1" / "signal SIGKILL" */
  describeExit() {
    if (!this.exited) return 'still running';
    return this.signalCode ? `signal ${this.signalCode}` : `code ${this.exitCode}`;
  }

  /**
   * Poll `predicate` until it returns truthy. Rejects with the last 40 log lines
   * if the process exits first or the timeout passes. Exceptions thrown by the
   * predicate count as "not yet".
   * @template T
   * @param {() => T|Promise<T>} predicate
   * @param {{timeoutMs?: number, intervalMs?: number, what?: string}} [opts]
   * @returns {Promise<T>}
   */
  async waitUntil(predicate, { timeoutMs = 30000, intervalMs = 50, what = 'ready' } = {}) {
    const deadline = Date.now() + timeoutMs;
    let lastErr = null;
    for (;;) {
      if (this.exited) {
        throw new Error(
          `${this.name} exited (${this.describeExit()}) before becoming ${what}; last 40 log lines:\n${this.tail(40)}`,
        );
      }
      try {
        const v = await predicate();
        if (v) return v;
      } catch (e) {
        lastErr = e;
      }
      if (Date.now() >= deadline) {
        const extra = lastErr ? ` (last probe error: ${lastErr.message})` : '';
        throw new Error(
          `${this.name} did not become ${what} within ${timeoutMs} ms${extra}; last 40 log lines:\n${this.tail(40)}`,
        );
      }
      await Promise.race([new Promise((r) => setTimeout(r, intervalMs)), this.exitPromise]);
    }
  }

  /**
   * Send a signal to the whole process group (no-op once exited).
   * @param {NodeJS.Signals} [signal='SIGTERM']
   */
  kill(signal = 'SIGTERM') {
    if (this.exited || this.pid === undefined) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        process.kill(this.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }

  /**
   * Stop the process group: `signal`, then SIGKILL after `graceMs`.
   * Resolves once the process has exited. Safe to call more than once.
   * @param {{signal?: NodeJS.Signals, graceMs?: number}} [opts]
   * @returns {Promise<{code: number|null, signal: NodeJS.Signals|null}>}
   */
  async stop({ signal = 'SIGTERM', graceMs = 5000 } = {}) {
    if (!this.exited) {
      this.stopping = true;
      this.kill(signal);
      let timer;
      const killed = new Promise((r) => {
        timer = setTimeout(() => {
          this.kill('SIGKILL');
          r(undefined);
        }, graceMs);
      });
      await Promise.race([this.exitPromise, killed]);
      await this.exitPromise;
      clearTimeout(timer);
    }
    // Kill any stragglers left in the group (e.g. grandchildren).
    if (this.pid !== undefined) {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        /* group is empty */
      }
    }
    return this.exitPromise;
  }
}

/**
 * Spawn a managed process (see ManagedProcess). Does not wait for anything.
 * @param {SpawnOptions} opts
 * @returns {ManagedProcess}
 */
export function spawnProcess(opts) {
  return new ManagedProcess(opts);
}

/**
 * Spawn a managed process and wait until it is ready. `ready` is either a
 * RegExp matched against output lines or an (async) predicate polled every
 * 50 ms. If the process exits first or the timeout passes, the process is
 * stopped and the promise rejects with an Error containing the last 40 lines.
 *
 * @param {SpawnOptions & {ready?: RegExp | (() => any), readyTimeoutMs?: number}} opts
 * @returns {Promise<ManagedProcess>}
 */
export async function startProcess(opts) {
  const { ready, readyTimeoutMs = 30000 } = opts;
  const proc = spawnProcess(opts);
  try {
    if (ready instanceof RegExp || typeof ready === 'string') {
      await proc.waitForLog(ready, readyTimeoutMs);
    } else if (typeof ready === 'function') {
      await proc.waitUntil(ready, { timeoutMs: readyTimeoutMs });
    }
  } catch (e) {
    await proc.stop({ graceMs: 2000 });
    throw e;
  }
  return proc;
}

/**
 * Processes started by this module that are still running.
 * @returns {ManagedProcess[]}
 */
export function liveProcesses() {
  return [...live];
}

/**
 * Stop every live process (SIGTERM, SIGKILL after graceMs). Use in `after()`
 * hooks: `after(() => stopAll())`.
 * @param {{graceMs?: number}} [opts]
 */
export async function stopAll({ graceMs = 3000 } = {}) {
  await Promise.all([...live].map((p) => p.stop({ graceMs })));
}

/**
 * Synchronously SIGKILL every live process group. Runs automatically on
 * process exit; exported for completeness.
 */
export function killAllSync() {
  for (const p of live) p.kill('SIGKILL');
}

process.on('exit', killAllSync);
for (const sig of /** @type {NodeJS.Signals[]} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  if (process.listenerCount(sig) === 0) {
    const handler = () => {
      killAllSync();
      // Only take over the default "terminate" behaviour if nobody else cares.
      if (process.listenerCount(sig) === 1) {
        process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[sig] ?? 0));
      }
    };
    process.on(sig, handler);
  }
}
