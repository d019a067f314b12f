#!/usr/bin/env node
import { run } from '../dist/client/cli.js';

await run(process.argv);
