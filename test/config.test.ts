import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { ConfigError, OPTIONS, flagName, loadConfig } from '../src/config.js';
import { Defaults } from '../src/constants.js';
import { runCli } from './helpers/cli.js';

const config = suite('configuration');

config('defaults apply when nothing is set', () => {
  const c = loadConfig({}, []);
  assert.is(c.port, 8080);
  assert.is(c.host, '127.0.0.1');
  assert.is(c.databasePath, './data/roster.db');
  assert.is(c.adminToken, undefined);
  assert.is(c.touchFlushMs, 1000);
  assert.is(c.heartbeatMs, 30_000);
  assert.is(c.maxPayload, 65_536);
  assert.is(c.schemaMode, 'migrate');
  assert.is(c.maxConnectionsPerIp, Defaults.maxConnectionsPerIp);
});

config('environment variables are read and flags win over them', () => {
  const c = loadConfig({ PORT: '9000', TOUCH_FLUSH_MS: '250', ALLOWED_ORIGINS: 'https://a.test, https://b.test' }, ['--port', '9100', '--heartbeat-ms=5000']);
  assert.is(c.port, 9100);
  assert.is(c.touchFlushMs, 250);
  assert.is(c.heartbeatMs, 5000);
  assert.equal(c.allowedOrigins, ['https://a.test', 'https://b.test']);
});

config('bad values, unknown flags and tokens on the command line are refused', () => {
  const cases: [NodeJS.ProcessEnv, string[], RegExp][] = [
    [{ PORT: 'eighty' }, [], /PORT must be a whole number/],
    [{ PORT: '70000' }, [], /PORT must be between 0 and 65535/],
    [{}, ['--max-payload', '-5'], /--max-payload must be a whole number/],
    [{ SCHEMA_MODE: 'yolo' }, [], /SCHEMA_MODE must be one of migrate, verify/],
    [{ ADMIN_TOKEN: 'short' }, [], /ADMIN_TOKEN must be at least 16/],
    // It travels in an Authorization header, which ends at whitespace.
    [{ ADMIN_TOKEN: 'correct horse battery staple' }, [], /ADMIN_TOKEN must be printable ASCII with no spaces/],
    [{ METRICS_TOKEN: 'mötley-crüe-scraper-token' }, [], /METRICS_TOKEN must be printable ASCII with no spaces/],
    [{}, ['--admin-token', 'x'.repeat(20)], /not accepted on the command line/],
    [{}, ['--nope', '1'], /unknown option "--nope"/],
    [{}, ['--port'], /--port needs a value/],
  ];
  for (const [env, argv, message] of cases) {
    try {
      loadConfig(env, argv);
      assert.unreachable(`accepted ${JSON.stringify({ env, argv })}`);
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.match((error as Error).message, message);
    }
  }
});

config('the CLI exits with code 2 and a clear message on a bad value', async () => {
  const cli = runCli({ HEARTBEAT_MS: 'soon' });
  assert.is(await cli.exited, 2);
  assert.match(cli.output(), /HEARTBEAT_MS must be a whole number/);
});

config('--help lists every option with its environment variable', async () => {
  const cli = runCli({}, ['--help']);
  assert.is(await cli.exited, 0);
  for (const name of ['PORT', 'DATABASE_PATH', 'ADMIN_TOKEN', 'TOUCH_FLUSH_MS', 'MAX_PAYLOAD', 'SCHEMA_MODE']) {
    assert.ok(cli.output().includes(name), name);
  }
});

config('every option is documented in the README with its flag', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const spec of OPTIONS) {
    assert.ok(readme.includes(`\`${spec.env}\``), `${spec.env} missing from README`);
    if (spec.kind !== 'secret') assert.ok(readme.includes(`\`${flagName(spec.env)}\``), `${flagName(spec.env)} missing from README`);
  }
});

config.run();
