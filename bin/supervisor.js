#!/usr/bin/env node
// CommonJS (bin/package.json): the CLI's bundle loads without Node's ES module loader.
require('../dist/client/cli.cjs').run(process.argv);
