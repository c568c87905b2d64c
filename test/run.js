'use strict';
// The test command: starts (or finds) PostgreSQL, Redis and RabbitMQ once, then runs every compiled test file with
// node's test runner, one file at a time (out-of-process tests bind ports and measure CPU).
const { spawnSync } = require('node:child_process');
const { startServices } = require('../build/test/helpers/services.js');

async function main() {
  const services = await startServices();
  const env = { ...process.env, TEST_PG_URL: services.pgUrl, TEST_REDIS_URL: services.redisUrl };
  if (services.amqpUrl !== undefined) env.TEST_AMQP_URL = services.amqpUrl;
  const files = process.argv.slice(2);
  const args = ['--test', '--test-concurrency=1', '--test-timeout=300000', ...(files.length ? files : ['build/test/**/*.test.js'])];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', env });
  await services.stop();
  process.exit(r.status ?? 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
