// The master of seed 000, done with supervisor-node/process: it answers the workers' requests
// and keeps a little state about each worker, which it resets when the daemon says that worker
// was restarted. No pm2.list to find ids, no callback cache keyed by hand-made hashes, no
// "restart" message from the worker: the daemon routes requests and announces restarts.
//
// GET http://127.0.0.1:$MASTER_PORT/state shows what it keeps (default port 3100).
import http from 'node:http';
import { on, onRequest, self } from 'supervisor-node/process';

const port = Number(process.env.MASTER_PORT ?? 3100);
const jobMs = Number(process.env.JOB_MS ?? 20);
/** What the master knows of each worker, by process id. */
const workers = new Map();
/** Every reset, for the state page. */
const resets = [];

onRequest(async (request, from) => {
  if (request?.type !== 'job') throw new Error(`unknown request type ${JSON.stringify(request?.type)}`);
  const entry = workers.get(from.id) ?? { pid: from.pid, instance: from.instance, jobs: 0, since: Date.now() };
  entry.jobs += 1;
  workers.set(from.id, entry);
  // Stands for the master's real work (the seed's socket server); keeps requests in flight.
  await new Promise((resolve) => setTimeout(resolve, jobMs));
  return { result: request.n * 2, jobs: entry.jobs };
});

on('peer', (event) => {
  if (event.name !== 'worker') return;
  if (event.event === 'restart' || event.event === 'exit') {
    // The seed's worker sent 'restart' itself after coming back; the daemon says it now, for
    // crashes too, and the master drops what it kept about the old process.
    workers.delete(event.id);
    resets.push({ id: event.id, event: event.event, pid: event.pid, previousPid: event.previousPid, at: Date.now() });
    if (resets.length > 100) resets.shift();
    console.log(`master: worker ${event.id} ${event.event} (pid ${event.previousPid ?? event.pid} -> ${event.pid}); its entry was reset`);
  }
});

http
  .createServer((req, res) => {
    if (req.url !== '/state') {
      res.statusCode = 404;
      res.end('try /state\n');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ master: { ...self, pid: process.pid }, workers: Object.fromEntries(workers), resets }));
  })
  .listen(port, '127.0.0.1', () => console.log(`master ${self.id} (pid ${process.pid}) on 127.0.0.1:${port}/state`));
