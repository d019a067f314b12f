// A socket.io chat for cluster mode: every worker keeps its own clients, and
// @socket.io/redis-adapter carries each broadcast through Redis to the clients of every other
// worker. Cluster workers share no memory; Redis is what they share.
//
//   npx supervisor start examples/chat/ecosystem.config.js
//
// Environment: PORT (default 3000), HOST (default: all interfaces), REDIS_URL (default
// redis://127.0.0.1:6379).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST || undefined;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const page = readFileSync(new URL('./index.html', import.meta.url));

// One client publishes, a duplicate subscribes (a subscribed Redis connection can do nothing else).
const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
for (const client of [pubClient, subClient]) {
  // Reconnection is the client's job; without a listener an 'error' would end the process.
  client.on('error', (error) => console.error(`pid ${process.pid}: redis: ${error.message}`));
}
// Without Redis there is no chat: fail, and let Supervisor restart us with back-off until it is there.
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = http.createServer((req, res) => {
  if (req.url === '/' || req.url === '/index.html') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page);
    return;
  }
  res.statusCode = 404;
  res.end('not found\n');
});

const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient) });

io.on('connection', (socket) => {
  socket.on('chat message', (text) => {
    if (typeof text !== 'string' || text.length === 0 || text.length > 1000) return;
    // To every client of every worker, through Redis.
    io.emit('chat message', { text, from: socket.id, worker: process.pid });
  });
  // Which worker holds this client: for the page and for the tests.
  socket.on('whoami', (ack) => typeof ack === 'function' && ack({ pid: process.pid, sid: socket.id }));
});

httpServer.listen(port, host, () => {
  console.log(`pid ${process.pid}: chat on ${host ?? '*'}:${port}, redis ${redisUrl}`);
  // Ready only now, with Redis connected and the port open (wait_ready in the ecosystem file):
  // a reload puts this worker in rotation only then.
  process.send?.('ready');
});

// On stop or reload: stop taking clients, then close the Redis connections.
process.once('SIGINT', () => {
  io.close();
  void Promise.allSettled([pubClient.quit(), subClient.quit()]).then(() => process.exit(0));
});
