/**
 * `hsr-attn`: one module per command in commands/, all parsed by args.ts. With no command it runs
 * `demo` (what `npm start` shows). Exit status: 0 ok, 1 error (HsrError code and message on
 * stderr), 2 usage error. main.ts is the executable; this module only exports.
 */
import { HsrError } from '../errors.js';
import { assertNoPositionals, helpText, parseArgs, UsageError } from './args.js';
import type { Command } from './command.js';
import { demoCommand } from './commands/demo.js';
import { generateCommand } from './commands/generate.js';
import { perplexityCommand } from './commands/perplexity.js';
import { analyzeCommand } from './commands/analyze.js';
import { reproduceCommand } from './commands/reproduce.js';
import { benchCommand } from './commands/bench.js';
import { serveCommand } from './commands/serve.js';
import { evalCommand } from './commands/eval.js';

/** Every command, in the order `hsr-attn --help` lists them. Add a command here and in commands/. */
export const COMMANDS: Command[] = [perplexityCommand, generateCommand, evalCommand, demoCommand, analyzeCommand, reproduceCommand, benchCommand, serveCommand];
const DEFAULT_COMMAND = demoCommand;

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return ['usage: hsr-attn <command> [options]   (no command: demo)', '', 'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.brief}`),
    '', 'hsr-attn <command> --help shows a command\'s options.'].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const first = argv[0];
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(overview() + '\n');
    return 0;
  }
  const named = first !== undefined && !first.startsWith('-') ? COMMANDS.find((c) => c.name === first) : undefined;
  if (first !== undefined && !first.startsWith('-') && !named) {
    process.stderr.write(`hsr-attn: expected a command (${COMMANDS.map((c) => c.name).join(', ')}), got ${JSON.stringify(first)}\n\n${overview()}\n`);
    return 2;
  }
  const command = named ?? DEFAULT_COMMAND;
  const rest = named ? argv.slice(1) : argv;
  try {
    const args = parseArgs(rest, command.options);
    if (args.help) {
      process.stdout.write(helpText(command.usage, command.summary, command.options) + '\n');
      return 0;
    }
    if (command.positionals === undefined) assertNoPositionals(args);
    return await command.run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`hsr-attn ${command.name}: ${e.message}\n(see hsr-attn ${command.name} --help)\n`);
      return 2;
    }
    if (e instanceof HsrError) {
      process.stderr.write(`hsr-attn ${command.name}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    // A file-system error no loader turned into an HsrError still gets a line, not a stack trace.
    const sys = e as { code?: unknown; syscall?: unknown; message?: string };
    if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
      process.stderr.write(`hsr-attn ${command.name}: IO_ERROR: ${sys.message}\n`);
      return 1;
    }
    throw e;
  }
}
