/** A CLI command: one module per command under commands/, registered in main.ts. */
import type { OptionSpecs, ParsedArgs } from './args.js';

export interface Command {
  name: string;
  /** Usage line after `hsr-attn`, e.g. `perplexity --model DIR --text FILE [options]`. */
  usage: string;
  /** One line for `hsr-attn --help`. */
  brief: string;
  /** Paragraph for `hsr-attn <command> --help`. */
  summary: string;
  options: OptionSpecs;
  /** Positional arguments the command reads itself (e.g. 'FILE'); without it any positional argument is a usage error. */
  positionals?: string;
  /** Runs with parsed args; resolves to the process exit code. */
  run(args: ParsedArgs): Promise<number> | number;
}
