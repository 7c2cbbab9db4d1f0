#!/usr/bin/env node
// The `hsr-attn` executable (package.json "bin"; `npm start` runs it with no command = demo).
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
