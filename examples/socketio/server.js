// A socket.io chat-style server for cluster mode. It uses socket.io's HTTP long-polling
// transport by default, which is what makes sticky sessions necessary: a polling session is a
// series of separate HTTP requests, and every one of them must reach the worker that holds
// the session. Run it under Supervisor with sticky-ip balancing (see README.md next to it):
//
//   npx supervisor start examples/socketio/server.js -i 4 --balance sticky-ip
//
// Environment: PORT (default 3000), HOST (default: all interfaces), SOCKETIO_TRANSPORTS
// (comma-separated, default "polling"; "polling,websocket" allows the upgrade too).
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST || undefined;
const transports = (process.env.SOCKETIO_TRANSPORTS ?? 'polling').split(',').map((t) => t.trim()).filter(Boolean);

const page = `<!doctype html>
<meta charset="utf-8">
<title>socket.io under Supervisor</title>
<pre id="log"></pre>
<script src="/socket.io/socket.io.js"></script>
<script>
  const log = (line) => (document.getElementById('log').textContent += line + '\\n');
  const socket = io({ transports: ${JSON.stringify(transports)} });
  socket.on('connect', () => log('connected as ' + socket.id));
  socket.on('connect_error', (e) => log('connect_error: ' + e.message));
  socket.on('disconnect', (why) => log('disconnected: ' + why));
  let n = 0;
  setInterval(() => socket.emit('echo', { n: n++ }, (ack) => log('ack ' + ack.n + ' from worker pid ' + ack.pid)), 1000);
</script>
`;

const httpServer = http.createServer((req, res) => {
  if (req.url === '/' || req.url === '/index.html') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page);
    return;
  }
  if (req.url === '/pid') {
    res.end(`${process.pid}\n`);
    return;
  }
  res.statusCode = 404;
  res.end('not found\n');
});

const io = new Server(httpServer, { transports });

io.on('connection', (socket) => {
  console.log(`pid ${process.pid}: ${socket.id} connected over ${socket.conn.transport.name}`);
  // Every acknowledgement names the worker that served it, so a client can see that its whole
  // session stays on one process.
  socket.on('echo', (data, ack) => {
    if (typeof ack === 'function') ack({ ...(typeof data === 'object' && data !== null ? data : { data }), pid: process.pid, sid: socket.id });
  });
  socket.on('whoami', (ack) => {
    if (typeof ack === 'function') ack({ pid: process.pid, sid: socket.id });
  });
  socket.on('disconnect', (reason) => console.log(`pid ${process.pid}: ${socket.id} disconnected (${reason})`));
});

// When Supervisor drains this worker (a reload, a stop), long-polls and WebSockets have no
// response boundary at which it could close them: end every session's transport here, and the
// clients reconnect at once, to the workers still in rotation. (Under pm2, or with
// shutdown_with_message, the 'shutdown' message means the same.)
const endSessions = () => io.engine.close();
process.on('supervisor:drain', endSessions);
process.on('message', (message) => {
  if (message === 'shutdown') endSessions();
});

httpServer.listen(port, host, () => {
  console.log(`pid ${process.pid} serving socket.io (${transports.join(', ')}) on ${host ?? '*'}:${port}`);
});
