// Runs the core micro-benchmark (examples/request_cost.rs) compiled for
// wasm32-wasip1 under Node's V8 — the engine Envoy embeds — so the filter's own
// per-request cost can be seen without Envoy's. The shell's proxy-wasm imports
// are never called by the example; they are satisfied with stubs.
//
//   cargo build --release --example request_cost --target wasm32-wasip1
//   node envoy-demo/bench/request-cost.mjs [rounds]
import fs from 'node:fs';
import process from 'node:process';
import path from 'node:path';
import { WASI } from 'node:wasi';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const file = path.join(root, 'target/wasm32-wasip1/release/examples/request_cost.wasm');
if (!fs.existsSync(file)) {
  console.error(`${file} is missing: run cargo build --release --example request_cost --target wasm32-wasip1`);
  process.exit(1);
}
const wasi = new WASI({ version: 'preview1', args: ['request_cost', ...process.argv.slice(2)] });
const module = await WebAssembly.compile(fs.readFileSync(file));
const imports = { wasi_snapshot_preview1: wasi.wasiImport, env: {} };
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'env' && imp.kind === 'function') imports.env[imp.name] = () => 0;
}
const instance = await WebAssembly.instantiate(module, imports);
// The library's proxy-wasm shell exports `_initialize` too; WASI's start()
// refuses a module with both, so hand it a view without that export.
const exports = { ...instance.exports };
delete exports._initialize;
process.exitCode = wasi.start({ exports });
