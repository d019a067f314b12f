#!/usr/bin/env node
// Writes the option tables of docs/CONFIG.md from src/shared/app-options.ts (through dist/:
// run `npm run build` first; `npm run docs:config` does both). test/unit/app-options.test.ts
// fails when the file is not current.
import { readFileSync, writeFileSync } from 'node:fs';
import { withGeneratedSection } from '../dist/shared/app-options-doc.js';

const file = new URL('../docs/CONFIG.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = withGeneratedSection(before);
if (after !== before) writeFileSync(file, after);
console.log(after === before ? 'docs/CONFIG.md is current' : 'docs/CONFIG.md updated');
