'use strict';
// Preload entry: `node --require tenantscope/register app.js` or `node --import tenantscope/register app.mjs`.
// Kept tiny and syntax-safe for old Node versions: the version check runs before anything else is loaded,
// and nothing here may throw into the host app.
const [major, minor] = process.versions.node.split('.').map(Number);
// One plain stderr line, as the library's own log lines look: process.emitWarning would add a second line
// ("Use `node --trace-warnings ...`") to the app's output.
function say(line) {
  try {
    process.stderr.write(`tenantscope: ${line}\n`);
  } catch (_) {
    // stderr closed: stay silent rather than break the app
  }
}
if (major < 22 || (major === 22 && minor < 15)) {
  say(`Node.js ${process.versions.node} is older than the supported >=22.15.0; instrumentation is off and the app runs without it.`);
} else {
  try {
    // The bundle (scripts/bundle.ts) that `require('tenantscope')` loads too: one copy of the pipeline and its API.
    require('./build/tenantscope.js')[Symbol.for('tenantscope.register')]();
  } catch (err) {
    say(`failed to load (${err && err.message}); the app runs uninstrumented.`);
  }
}
