'use strict';
// Baseline peer: a bare Node `cluster` primary forking WORKERS copies of the
// hello app. SCHED=rr|none selects cluster.schedulingPolicy (must be set
// before the first fork). Prints "ready" once every worker is listening.
const cluster = require('node:cluster');
const path = require('node:path');

if (cluster.isPrimary) {
  const n = Math.max(1, parseInt(process.env.WORKERS || '2', 10) || 2);
  const sched = (process.env.SCHED || 'rr').toLowerCase();
  if (sched === 'rr') cluster.schedulingPolicy = cluster.SCHED_RR;
  else if (sched === 'none') cluster.schedulingPolicy = cluster.SCHED_NONE;
  else {
    console.error(`node-cluster: unknown SCHED=${sched} (expected rr|none)`);
    process.exit(2);
  }
  cluster.setupPrimary({ exec: path.join(__dirname, '..', 'apps', 'hello.cjs') });

  let listening = 0;
  let stopping = false;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === n) process.stdout.write('ready\n');
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`node-cluster: worker ${worker.process.pid} exited (code=${code}, signal=${signal})`);
    }
    if (Object.keys(cluster.workers).length === 0 && stopping) process.exit(0);
  });
  for (let i = 0; i < n; i++) cluster.fork();

  const stop = () => {
    if (stopping) return;
    stopping = true;
    const ws = Object.values(cluster.workers);
    if (ws.length === 0) process.exit(0);
    for (const w of ws) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
