// Four workers, round-robin: consecutive requests land on different workers, which is what
// shows the in-memory counter going wrong and the Redis one staying right.
//   npx supervisor start examples/shared-state/ecosystem.config.js
// PORT (default 3000) and REDIS_URL (default redis://127.0.0.1:6379) come from the environment.
export default {
  // A worker is ready once it has connected to Redis and listens (it says so).
  apps: [{ name: 'shared-state', script: 'server.js', instances: 4, wait_ready: true }],
};
