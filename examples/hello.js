// The quick-start app: a plain HTTP server. Under `supervisor start examples/hello.js -i 4`
// every worker calls listen(3000); the daemon owns the port and spreads connections.
import http from 'node:http';

const port = Number(process.env.PORT ?? 3000);

http
  .createServer((req, res) => {
    res.end(`hello from pid ${process.pid}\n`);
  })
  .listen(port, () => {
    console.log(`pid ${process.pid} listening on ${port}`);
  });
