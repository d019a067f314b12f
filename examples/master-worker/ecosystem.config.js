// Seed 000's layout: one master and twenty workers. Start from the repository root with
//   npx supervisor start examples/master-worker/ecosystem.config.js
// MASTER_PORT (default 3100) is where the master shows its state.
export default {
  apps: [
    { name: 'master', script: 'master.js' },
    { name: 'worker', script: 'worker.js', instances: 20, exec_mode: 'fork' },
  ],
};
