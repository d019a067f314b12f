// The chat with four workers, each client kept on one worker by its address (socket.io's
// long-polling transport needs that), and Redis carrying messages between the workers.
//   npx supervisor start examples/chat/ecosystem.config.js
// PORT (default 3000) and REDIS_URL (default redis://127.0.0.1:6379) come from the environment
// of that command.
export default {
  apps: [
    {
      name: 'chat',
      script: 'server.js',
      instances: 4,
      balance: 'sticky-ip',
      // A worker is ready once it has connected to Redis and listens (it says so).
      wait_ready: true,
    },
  ],
};
