/**
 * The one argument parser every command shares. A command declares its options once (name, type,
 * default, help); from that come parsing, validation with messages that say what was expected,
 * and the `--help` text. Flags: `--name value`, `--name=value`, booleans as bare `--name`.
 */
import { HsrError } from '../errors.js';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionSpec {
  type: OptionType;
  help: string;
  /** Shown in help and used when the flag is absent. */
  default?: string | number | boolean;
  /** Value placeholder in help, e.g. DIR, FILE, N. */
  value?: string;
  /** Allowed values (string options). */
  choices?: readonly string[];
  /** Range of number and integer options: min ≤ x (or x > above) and x ≤ max. */
  min?: number;
  above?: number;
  max?: number;
}

export type OptionSpecs = Record<string, OptionSpec>;
/** Option values by name; `_` holds the positional arguments. */
export interface ParsedArgs { _: string[]; [name: string]: string | number | boolean | string[] | undefined }

/** A usage error: main prints it with the command's help hint and exits with status 2. */
export class UsageError extends HsrError {
  constructor(message: string) {
    super('BAD_OPTION', message);
  }
}

/** Every command also accepts these. */
export const COMMON_OPTIONS: OptionSpecs = {
  json: { type: 'boolean', help: 'print the result as JSON on stdout (progress stays on stderr)' },
  help: { type: 'boolean', help: 'show this help' },
};

export function parseArgs(argv: readonly string[], specs: OptionSpecs): ParsedArgs {
  const all = { ...specs, ...COMMON_OPTIONS };
  const out: ParsedArgs = { _: [] };
  for (const [name, s] of Object.entries(all)) if (s.default !== undefined) out[name] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) { out._.push(arg); continue; }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = all[name];
    if (!spec) throw new UsageError(`expected one of ${Object.keys(all).map((n) => `--${n}`).join(', ')}, got ${arg}`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`expected --${name} without a value, got ${arg}`);
      out[name] = true;
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`expected a value after --${name}, got the end of the command line`);
    out[name] = convert(name, spec, raw);
  }
  return out;
}

function convert(name: string, spec: OptionSpec, raw: string): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`expected --${name} to be one of ${spec.choices.join('|')}, got ${JSON.stringify(raw)}`);
    return raw;
  }
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || (spec.type === 'integer' && !Number.isSafeInteger(x))) {
    throw new UsageError(`expected --${name} to be ${spec.type === 'integer' ? 'an integer' : 'a number'}${rangeText(spec)}, got ${JSON.stringify(raw)}`);
  }
  if ((spec.min !== undefined && x < spec.min) || (spec.above !== undefined && x <= spec.above) || (spec.max !== undefined && x > spec.max)) {
    throw new UsageError(`expected --${name} to be ${spec.type === 'integer' ? 'an integer' : 'a number'}${rangeText(spec)}, got ${raw}`);
  }
  return x;
}

/** " ≥ 2 and ≤ 8192", " > 0", or "" for an unbounded option. */
function rangeText(spec: OptionSpec): string {
  const parts = [spec.min !== undefined ? `≥ ${spec.min}` : '', spec.above !== undefined ? `> ${spec.above}` : '', spec.max !== undefined ? `≤ ${spec.max}` : ''];
  const text = parts.filter((p) => p !== '').join(' and ');
  return text === '' ? '' : ` ${text}`;
}

/** Commands without positional arguments call this: a stray word is a usage error, not silently ignored. */
export function assertNoPositionals(args: ParsedArgs): void {
  if (args._.length > 0) throw new UsageError(`expected no positional arguments, got ${args._.map((a) => JSON.stringify(a)).join(' ')}`);
}

/** The help text of a command: usage line, summary, then one line per option. */
export function helpText(usage: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.entries({ ...specs, ...COMMON_OPTIONS }).map(([name, s]) => {
    const flag = `--${name}${s.type === 'boolean' ? '' : ` ${s.value ?? (s.choices ? s.choices.join('|') : s.type.toUpperCase())}`}`;
    const def = s.default !== undefined && s.type !== 'boolean' ? ` (default ${s.default})` : '';
    const range = rangeText(s);
    return [flag, s.help + (range === '' ? '' : ` (${range.trim()})`) + def] as [string, string];
  });
  const width = Math.min(24, Math.max(...rows.map(([f]) => f.length)));
  const line = ([f, h]: readonly [string, string]) => (f.length > width ? `  ${f}\n  ${''.padEnd(width)}  ${h}` : `  ${f.padEnd(width)}  ${h}`);
  return [`usage: ${usage}`, '', summary, '', 'options:', ...rows.map(line)].join('\n');
}
