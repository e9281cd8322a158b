// Turns cargo's release module into the shipped one:
//
//   node tools/optimize-wasm.mjs [--exports NAME,NAME,...] IN.wasm OUT.wasm
//
// (--exports replaces KEEP: the benchmark builds its floor and JWT filters,
// which implement fewer callbacks, the same way as the shipped module.)
//
// 1. Exports only the proxy-wasm callbacks the filter implements. The Rust SDK
//    exports every callback of the ABI, and Envoy enters the VM for each one
//    that is exported even when the SDK's default does nothing: on every
//    request that is the response body, the access log and "done". Without
//    the export Envoy takes its own default (continue, nothing to log, done),
//    which is exactly what the SDK's default answered.
// 2. Runs binaryen's wasm-opt for size (-Oz), with inlining into functions
//    that have one caller capped (uncapped, it builds 54 KiB functions and
//    V8's compiler then keeps 12 MiB more of Envoy's memory) and without
//    merging similar functions (1.6 MiB more); measured, see envoy-demo/BENCHMARK.md
//    "Performance".
// 3. Checks the result (it compiles, and its exports are exactly KEEP, or the
//    --exports list) before it replaces OUT.
//
// binaryen comes from tests/e2e/node_modules (pinned in its package.json).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WASM_OPT = path.join(REPO_ROOT, 'tests/e2e/node_modules/binaryen/bin/wasm-opt');

/** What the filter implements (src/shell) plus what the SDK needs to run. */
export const KEEP = [
  'memory',
  '_initialize',
  'proxy_abi_version_0_2_1',
  'proxy_on_memory_allocate',
  'proxy_on_vm_start',
  'proxy_on_configure',
  'proxy_on_tick',
  'proxy_on_context_create',
  'proxy_on_request_headers',
  'proxy_on_response_headers',
  'proxy_on_http_call_response',
  'proxy_on_delete',
];

// The features rustc's wasm32-wasip1 output uses. wasm-opt refuses a module
// that uses any other, so a toolchain change shows up here, not in Envoy.
const FEATURES = ['bulk-memory', 'sign-ext', 'nontrapping-float-to-int', 'mutable-globals'];

const exportsOf = (file) =>
  WebAssembly.Module.exports(new WebAssembly.Module(fs.readFileSync(file))).map((e) => e.name);

/** `[--exports LIST] IN OUT` → what to keep, and the two files. */
function parseArgs(args) {
  let keep = KEEP;
  const rest = [...args];
  if (rest[0] === '--exports') {
    keep = (rest[1] ?? '').split(',').filter(Boolean);
    if (!keep.length) throw new Error('--exports needs a comma-separated list of export names');
    rest.splice(0, 2);
  }
  const [input, output, extra] = rest;
  if (!input || !output || extra) throw new Error('usage: node tools/optimize-wasm.mjs [--exports NAME,NAME,...] IN.wasm OUT.wasm');
  return { keep, input, output };
}

function main(args) {
  const { keep, input, output } = parseArgs(args);
  if (!fs.existsSync(WASM_OPT)) {
    throw new Error(`binaryen's wasm-opt not found at ${WASM_OPT}; run: bash tests/setup.sh node`);
  }
  const before = exportsOf(input);
  const missing = keep.filter((name) => !before.includes(name));
  if (missing.length) throw new Error(`${input} does not export ${missing.join(', ')}`);
  const unknown = before.filter((name) => !keep.includes(name) && !name.startsWith('proxy_on_'));
  if (unknown.length) throw new Error(`${input} exports ${unknown.join(', ')}, which this script does not know`);
  const drop = before.filter((name) => !keep.includes(name));
  // Written next to OUT and renamed only once checked: a failed or interrupted
  // run must not leave a module that the next build takes as up to date.
  const partial = `${output}.partial`;
  try {
    const args = [WASM_OPT, input, '-o', partial, ...FEATURES.map((f) => `--enable-${f}`)];
    for (const name of drop) args.push('--remove-exports', `--pass-arg=remove-exports@${name}`);
    // The export removal runs first, so -Oz also drops the code behind them.
    // -Oz without merge-similar-functions: merging saves 6 KB but cost 1.6 to
    // 1.7 MiB more of Envoy's RSS (median of 4 to 5 launches each, in four
    // separate runs), mostly in free pages V8's compiler leaves behind.
    args.push('-Oz', '--skip-pass', 'merge-similar-functions', '--one-caller-inline-max-function-size', '100');
    execFileSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    const after = exportsOf(partial);
    if (after.length !== keep.length || keep.some((name) => !after.includes(name))) {
      throw new Error(`wasm-opt's output exports [${after.join(', ')}], expected [${keep.join(', ')}]`);
    }
    fs.renameSync(partial, output);
  } finally {
    fs.rmSync(partial, { force: true });
  }
  const kib = (file) => (fs.statSync(file).size / 1024).toFixed(1);
  console.log(`${output}: ${kib(output)} KiB (cargo: ${kib(input)} KiB), ${drop.length} unused callbacks not exported`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`optimize-wasm: ${err.message}`);
    process.exit(1);
  }
}
