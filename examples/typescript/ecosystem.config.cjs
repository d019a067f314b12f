// supervisor start examples/typescript/ecosystem.config.cjs [--env production]
module.exports = {
  apps: [
    {
      name: 'ts-web',
      script: 'server.ts', // .ts: Node with tsx loaded; instances: cluster mode
      instances: 2,
      env: { PORT: 3000 },
      env_production: { NODE_ENV: 'production' },
    },
  ],
};
