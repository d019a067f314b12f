'use strict';
// Anchor for bench/messages.mjs: the raw relay an app would write on Node's cluster. The
// primary forks workers "a" and "b" and forwards every message to the worker named in its
// `to`; a worker keeps its own map of request ids to callbacks. No validation, no bounds, no
// routing by app: the floor of what messages through a middle process cost.
const cluster = require('node:cluster');
const path = require('node:path');

if (cluster.isPrimary) {
  cluster.setupPrimary({ exec: path.join(__dirname, '..', 'apps', 'msg-relay-worker.mjs') });
  const workers = {};
  for (const role of ['a', 'b']) {
    const worker = cluster.fork({ ROLE: role });
    workers[role] = worker;
    worker.on('message', (message) => workers[message.to]?.send(message));
  }
  cluster.on('exit', (worker) => {
    if (worker === workers.a) process.exit(0);
  });
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
