#!/usr/bin/env node
// Runs the CLI compiled to JavaScript (dist/, built by `npm run build`, which `npm ci` runs as its
// `prepare` step). When dist/ is missing or older than a source file — while editing — it runs the
// TypeScript sources through tsx instead: slower to start, never stale. DIFFLAB_TSX=1 forces tsx.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli', 'main.js');

/** Newest modification time of the TypeScript sources under src/ (a few ms for the whole tree). */
function newestSource(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function compiledIsFresh() {
  if (process.env.DIFFLAB_TSX === '1') return false;
  try {
    const stamp = fs.statSync(path.join(root, 'dist', '.tsbuildinfo')).mtimeMs;
    return fs.existsSync(compiled) && stamp >= newestSource(path.join(root, 'src'));
  } catch {
    return false;
  }
}

if (compiledIsFresh()) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
