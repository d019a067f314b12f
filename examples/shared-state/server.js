// Shared state under cluster mode: a hit counter and a session store, in Redis, next to the
// same two kept in each worker's memory, which is what breaks under cluster mode. Workers share
// no memory: each one counts only the requests it served, and a session lives only in the
// worker that created it (and dies with it on a reload).
//
//   npx supervisor start examples/shared-state/ecosystem.config.js
//   curl localhost:3000/hit            # Redis: 1, 2, 3, ... whichever worker answers
//   curl localhost:3000/memory/hit     # memory: each worker has its own count
//   curl -c jar -b jar localhost:3000/session    # views of this session, in Redis
//
// Environment: PORT (default 3000), HOST, REDIS_URL (default redis://127.0.0.1:6379).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createClient } from 'redis';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST || undefined;
const redis = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
redis.on('error', (error) => console.error(`pid ${process.pid}: redis: ${error.message}`));
await redis.connect();

const SESSION_TTL_S = 3600;
const memory = { hits: 0, sessions: new Map() };

function sessionId(req, res) {
  const cookie = /(?:^|;\s*)sid=([\w-]{1,64})/.exec(req.headers.cookie ?? '');
  if (cookie) return cookie[1];
  const sid = randomUUID();
  res.setHeader('set-cookie', `sid=${sid}; HttpOnly; Path=/; SameSite=Lax`);
  return sid;
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  switch (url.pathname) {
    case '/hit':
      // INCR is atomic in Redis: concurrent requests on any workers never lose a count.
      return { hits: await redis.incr('hits') };
    case '/session': {
      const sid = sessionId(req, res);
      const key = `session:${sid}`;
      const [views] = await redis.multi().hIncrBy(key, 'views', 1).expire(key, SESSION_TTL_S).exec();
      return { sid, views };
    }
    case '/memory/hit':
      return { hits: ++memory.hits };
    case '/memory/session': {
      const sid = sessionId(req, res);
      const views = (memory.sessions.get(sid) ?? 0) + 1;
      memory.sessions.set(sid, views);
      return { sid, views };
    }
    default:
      res.statusCode = 404;
      return { error: 'try /hit, /session, /memory/hit or /memory/session' };
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).then(
    (body) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ...body, pid: process.pid }));
    },
    (error) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: error.message, pid: process.pid }));
    },
  );
});

server.listen(port, host, () => {
  console.log(`pid ${process.pid}: shared-state on ${host ?? '*'}:${port}`);
  // Ready only now, with Redis connected (wait_ready in the ecosystem file).
  process.send?.('ready');
});

process.once('SIGINT', () => {
  server.close();
  void redis.quit().finally(() => process.exit(0));
});
