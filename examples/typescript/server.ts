// A TypeScript HTTP server, run without a build step:
//
//   supervisor start examples/typescript/server.ts -i 2      (tsx from node_modules or PATH)
//
// Supervisor runs .ts files on Node with tsx loaded (`node --import tsx`), so cluster mode,
// wait_ready and graceful reloads work as for JavaScript. See docs/CONFIG.md, "TypeScript".
import http from 'node:http';

interface Reply {
  pid: number;
  instance: string | undefined;
}

const port: number = Number(process.env.PORT ?? 3000);

const server = http.createServer((_req, res) => {
  const reply: Reply = { pid: process.pid, instance: process.env.SUPERVISOR_INSTANCE };
  res.setHeader('content-type', 'application/json');
  res.end(`${JSON.stringify(reply)}\n`);
});

server.listen(port, () => console.log(`listening on ${port}`));
