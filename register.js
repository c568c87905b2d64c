'use strict';
// Preload entry: `node --require tenantscope/register app.js` or `node --import tenantscope/register app.mjs`.
// Kept tiny and syntax-safe for old Node versions: the version check runs before anything else is loaded,
// and nothing here may throw into the host app.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.emitWarning(
    `tenantscope: Node.js ${process.versions.node} is older than the supported >=22.15.0; ` +
      'instrumentation is off and the app runs without it.'
  );
} else {
  try {
    require('./build/src/register.js');
  } catch (err) {
    process.emitWarning(`tenantscope: failed to load (${err && err.message}); the app runs uninstrumented.`);
  }
}
