// `difflab schedule`: print a noise schedule's tables (β, ᾱ, σ, log-SNR per step).
import { DEFAULT_SPACING } from '../../diffusion/sampling.js';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import {
  DISCRETE_SCHEDULES, TIMESTEP_SPACINGS, discreteSchedule, samplingTimesteps,
  type DiscreteScheduleName, type TimestepSpacing,
} from '../../diffusion/schedules.js';

interface ScheduleArgs {
  name: DiscreteScheduleName;
  steps: number;
  betaStart?: number;
  betaEnd?: number;
  cosineS: number;
  zeroSnr: boolean;
  samplingSteps?: number;
  spacing: TimestepSpacing;
  json: boolean;
}

export const scheduleCommand: CommandModule<object, ScheduleArgs> = {
  command: 'schedule',
  builder: (y: Argv) => y
    .option('name', { choices: DISCRETE_SCHEDULES, demandOption: true, describe: 'schedule' })
    .option('steps', { type: 'number', default: 1000, describe: 'training steps T' })
    .option('beta-start', { type: 'number', describe: 'first β (linear: 1e-4, scaled-linear: 0.00085, sigmoid: 1e-4)' })
    .option('beta-end', { type: 'number', describe: 'last β (linear: 0.02, scaled-linear: 0.012, sigmoid: 0.02)' })
    .option('cosine-s', { type: 'number', default: 0.008, describe: 'cosine offset s' })
    .option('zero-snr', { type: 'boolean', default: false, describe: 'rescale to zero terminal SNR (Lin et al. 2024)' })
    .option('sampling-steps', { type: 'number', describe: 'also list the timesteps a sampler with this many steps visits' })
    .option('spacing', { choices: TIMESTEP_SPACINGS, default: DEFAULT_SPACING, describe: `timestep spacing for --sampling-steps (default ${DEFAULT_SPACING}, as the samplers use)` })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as unknown as Argv<ScheduleArgs>,
  handler: (a: ArgumentsCamelCase<ScheduleArgs>) => {
    const s = discreteSchedule(a.name, { T: a.steps, betaStart: a.betaStart, betaEnd: a.betaEnd, cosineS: a.cosineS, zeroTerminalSnr: a.zeroSnr });
    const timesteps = a.samplingSteps ? samplingTimesteps(s.T, a.samplingSteps, a.spacing) : undefined;
    if (a.json) {
      // JSON has no Infinity: a zero-terminal-SNR schedule's last σ and log-SNR print as null.
      const arr = (v: Float64Array) => Array.from(v, (x) => (Number.isFinite(x) ? x : null));
      console.log(JSON.stringify({
        name: s.name, T: s.T, betas: arr(s.betas), alphasCumprod: arr(s.alphasCumprod), sigmas: arr(s.sigmas), logSnr: arr(s.logSnr),
        ...(timesteps ? { spacing: a.spacing, timesteps } : {}),
      }));
      return;
    }
    console.log(`${s.name}, T = ${s.T}`);
    console.log(['t', 'beta', 'alphaCumprod', 'sigma', 'logSnr'].map((h) => h.padStart(14)).join(''));
    for (let t = 0; t < s.T; t++) {
      console.log([String(t), s.betas[t].toExponential(6), s.alphasCumprod[t].toExponential(6), s.sigmas[t].toExponential(6), s.logSnr[t].toFixed(6)].map((c) => c.padStart(14)).join(''));
    }
    if (timesteps) console.log(`sampling timesteps (${a.spacing}): ${timesteps.join(' ')}`);
  },
};
