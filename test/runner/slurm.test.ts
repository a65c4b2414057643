// `difflab run --slurm N` on a real single-node Slurm (Debian's slurm-wlm + munge): a throwaway
// cluster in a temp directory (its own munge socket, ports and state), a small analytic experiment
// submitted as a 2-task array plus its merge job, and the merged rows against a one-process run.
// Skips with a note where Slurm cannot start here; under CI=true it must run.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readRows, type ResultRow } from '../../src/runner/results.js';
import { runExperiment } from '../../src/runner/run.js';
import { BIN } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-slurm-'));
const GMM = path.resolve('configs/gmm/8-gaussians.json');

/** Why a Slurm cluster cannot be started here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (slurmd and munged are started as root)';
  for (const b of ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch']) if (!fs.existsSync(b)) return `${b} is missing (apt-get install slurm-wlm munge)`;
  if (!fs.existsSync('/etc/munge/munge.key')) return '/etc/munge/munge.key is missing';
  return undefined;
}

interface Cluster { env: NodeJS.ProcessEnv; stop(): void }

function startCluster(root: string): Cluster {
  const host = os.hostname().split('.')[0];
  const port = 20000 + Math.floor(Math.random() * 20000);
  for (const d of ['state', 'spool']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const sock = path.join(root, 'munge.sock');
  const conf = path.join(root, 'slurm.conf');
  fs.writeFileSync(conf, [
    'ClusterName=difflabtest', `SlurmctldHost=${host}`, 'SlurmUser=root', 'SlurmdUser=root',
    'AuthType=auth/munge', `AuthInfo=socket=${sock}`, 'CredType=cred/munge',
    `StateSaveLocation=${root}/state`, `SlurmdSpoolDir=${root}/spool`,
    `SlurmctldPidFile=${root}/slurmctld.pid`, `SlurmdPidFile=${root}/slurmd.pid`,
    `SlurmctldLogFile=${root}/slurmctld.log`, `SlurmdLogFile=${root}/slurmd.log`,
    `SlurmctldPort=${port}`, `SlurmdPort=${port + 1}`,
    'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none', 'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none', 'JobCompType=jobcomp/none', 'SchedulerType=sched/builtin',
    'SelectType=select/cons_tres', 'SelectTypeParameters=CR_Core', 'MpiDefault=none', 'ReturnToService=2',
    `NodeName=${host} CPUs=${os.cpus().length} State=UNKNOWN`, 'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP', '',
  ].join('\n'));
  // No cgroups: processes are tracked by /proc (proctrack/linuxproc); slurmd only needs the file.
  fs.writeFileSync(path.join(root, 'cgroup.conf'), '');
  const env = { ...process.env, SLURM_CONF: conf };
  const stop = () => {
    // Only the daemons this test started, by the pids they wrote; then wait until they have exited.
    const pids: number[] = [];
    for (const f of ['slurmd.pid', 'slurmctld.pid', 'munged.pid']) {
      try {
        const pid = Number(fs.readFileSync(path.join(root, f), 'utf8').trim());
        process.kill(pid, 'SIGTERM');
        pids.push(pid);
      } catch { /* not started or already gone */ }
    }
    const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    for (let i = 0; i < 40 && pids.some(alive); i++) spawnSync('sleep', ['0.25']);
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
  };
  try {
    execFileSync('/usr/sbin/munged', ['--force', `--socket=${sock}`, '--key-file=/etc/munge/munge.key', `--pid-file=${root}/munged.pid`, `--log-file=${root}/munged.log`, `--seed-file=${root}/munge.seed`]);
    execFileSync('/usr/sbin/slurmctld', ['-f', conf], { env, stdio: 'pipe' });
    execFileSync('/usr/sbin/slurmd', ['-f', conf], { env, stdio: 'pipe' });
  } catch (e) {
    stop();
    const log = path.join(root, 'slurmd.log');
    throw new Error(`starting the test Slurm cluster: ${(e as Error).message}; ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-400) : ''}`);
  }
  // Wait until the node is up.
  for (let i = 0; i < 60; i++) {
    const s = spawnSync('sinfo', ['-h', '-o', '%t'], { env, encoding: 'utf8' });
    if (s.status === 0 && /idle|mix|alloc/.test(s.stdout)) return { env, stop };
    spawnSync('sleep', ['0.5']);
  }
  stop();
  throw new Error(`the test Slurm cluster did not come up: ${fs.existsSync(path.join(root, 'slurmd.log')) ? fs.readFileSync(path.join(root, 'slurmd.log'), 'utf8').slice(-500) : 'no slurmd log'}`);
}

const strip = (rows: ResultRow[]) => rows.map(({ seconds: _s, ...r }) => r);

test('difflab run --slurm 2: a 2-task array and a dependent merge job give the rows of a one-process run', async () => {
  const why = unavailable();
  if (why) {
    if (process.env.CI === 'true') assert.unreachable(`Slurm must run in CI, but ${why}`);
    console.log(`  note: skipped the Slurm test: ${why}`);
    return;
  }
  const cluster = startCluster(path.join(dir, 'cluster'));
  try {
    const f = path.join(dir, 'tiny.yaml');
    fs.writeFileSync(f, `name: tiny-slurm\nanalytic: { gmm: ${GMM} }\ngrid:\n  backends: [analytic]\n  samplers: [euler, heun, dpm-solver++-2m]\n  steps: [3, 6]\n  metrics: [path-rms, sw2, cost]\neval: { n: 100 }\ncharts: [sampler-error]\n`);
    const printed = spawnSync('node', [BIN, 'run', f, '--slurm', '2', '--print-only', '--results', path.join(dir, 'slurm results')], { encoding: 'utf8', env: cluster.env });
    assert.is(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /#SBATCH --array=0-1/);
    assert.match(printed.stdout, /--shard "\$\{SLURM_ARRAY_TASK_ID\}\/2"/);
    assert.match(printed.stdout, /sbatch '--parsable' '--dependency=afterok:<shards job id>' '.*merge\.sbatch'/);
    const sub = spawnSync('node', [BIN, 'run', f, '--slurm', '2', '--results', path.join(dir, 'slurm results')], { encoding: 'utf8', env: cluster.env });
    assert.is(sub.status, 0, sub.stderr);
    assert.match(sub.stdout, /submitted shards \d+, merge \d+/);
    const runDir = sub.stdout.match(/logs in (.+?)\/slurm;/)![1];
    const report = path.join(runDir, 'report.html');
    for (let i = 0; i < 240 && !fs.existsSync(report); i++) spawnSync('sleep', ['0.5']);
    const logs = fs.readdirSync(path.join(runDir, 'slurm')).filter((x) => x.endsWith('.out'));
    assert.ok(fs.existsSync(report), `no report after 120 s; job logs: ${logs.map((l) => `${l}: ${fs.readFileSync(path.join(runDir, 'slurm', l), 'utf8').slice(-300)}`).join(' | ')}`);
    assert.equal(logs.filter((l) => l.startsWith('shards-')).length, 2, logs.join(', '));
    assert.ok(fs.existsSync(path.join(runDir, 'metrics.shard-0-of-2.jsonl')) && fs.existsSync(path.join(runDir, 'metrics.shard-1-of-2.jsonl')));
    const one = await runExperiment({ file: f, resultsRoot: path.join(dir, 'one'), log: () => {} });
    const merged = readRows(path.join(runDir, 'metrics.jsonl')), single = readRows(path.join(one.dir, 'metrics.jsonl'));
    assert.is(merged.length, single.length);
    assert.equal(strip(merged), strip(single));
  } finally {
    cluster.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
