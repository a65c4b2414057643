// `difflab info`: versions, the compute backend chosen and why, threads, memory.
import os from 'node:os';
import fs from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { selectBackend, tf, type BackendChoice } from '../../compute/backend.js';
import { computeOf, withCompute, type ComputeArgs } from '../options.js';

interface InfoArgs extends ComputeArgs {
  json: boolean;
}

export interface InfoReport {
  difflab: string;
  node: string;
  tfjs: Record<string, string>;
  backend: BackendChoice;
  simd?: boolean;
  cpus: number;
  cpuModel: string;
  memory: { totalBytes: number; freeBytes: number; rssBytes: number };
}

function packageVersion(url: URL): string {
  return (JSON.parse(fs.readFileSync(url, 'utf8')) as { version: string }).version;
}

export async function collectInfo(backend: ComputeArgs['compute']): Promise<InfoReport> {
  const choice = await selectBackend(backend);
  return {
    difflab: packageVersion(new URL('../../../package.json', import.meta.url)),
    node: process.version,
    tfjs: Object.fromEntries(Object.entries(tf.version).map(([k, v]) => [k, String(v)])),
    backend: choice,
    simd: choice.tfjsBackend === 'wasm' ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : undefined,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memory: { totalBytes: os.totalmem(), freeBytes: os.freemem(), rssBytes: process.memoryUsage().rss },
  };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

export function formatInfo(r: InfoReport): string {
  const lines = [
    `difflab ${r.difflab} on Node ${r.node}`,
    `tfjs ${r.tfjs['tfjs-core'] ?? r.tfjs.tfjs ?? '?'}`,
    `backend: ${r.backend.backend} (requested ${r.backend.requested}), ${r.backend.threads} thread(s)${r.simd === undefined ? '' : `, SIMD ${r.simd ? 'on' : 'off'}`}`,
  ];
  lines.push(`kernels: ${r.backend.kernels}${r.backend.backend === 'wasm' && r.backend.requested === 'auto' ? ' (oneDNN did not load: see below)' : ''}`);
  for (const a of r.backend.attempts) lines.push(`  ${a.ok ? '✓' : '✗'} ${a.backend.padEnd(14)} ${a.reason}`);
  lines.push(`cpu: ${r.cpus} × ${r.cpuModel}`);
  lines.push(`memory: ${gib(r.memory.freeBytes)} free of ${gib(r.memory.totalBytes)}`);
  return lines.join('\n');
}

export const infoCommand: CommandModule<object, InfoArgs> = {
  command: 'info',
  builder: (y: Argv) => withCompute(y).option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as unknown as Argv<InfoArgs>,
  handler: async (a: ArgumentsCamelCase<InfoArgs>) => {
    const r = await collectInfo(computeOf(a));
    console.log(a.json ? JSON.stringify(r, null, 2) : formatInfo(r));
  },
};
