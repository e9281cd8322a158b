// The e2e harness in one import: `import { Browser, startEnvoy, ... } from './lib/index.mjs'`.
export * from './ports.mjs';
export * from './procs.mjs';
export * from './envoy.mjs';
export * from './upstream.mjs';
export * from './client.mjs';
