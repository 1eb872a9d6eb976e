// Lists the changes between two versions of a schema that break existing clients, as graphql-js
// (the reference implementation, and what schema-diff tools build on) classifies them with
// findBreakingChanges: removed types, fields and enum values, changed field kinds, output types
// made nullable, new required arguments and input fields, and so on.
//
// usage: node breaking-changes.cjs < pairs.json
// stdin: [{"id": "...", "old": "<SDL>", "new": "<SDL>"}, ...]
// stdout: [{"id": "...", "breaking": ["FIELD_REMOVED: Query.x was removed.", ...]}, ...]
// graphql-js is found through GRAPHQL_JS_MODULES (set by `cargo xtask node`).
'use strict';
const path = require('path');

const modules = process.env.GRAPHQL_JS_MODULES;
if (!modules) {
  console.error('GRAPHQL_JS_MODULES is not set: run `cargo xtask node`');
  process.exit(2);
}
const graphql = require(path.join(modules, 'graphql'));

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
});
process.stdin.on('end', () => {
  const pairs = JSON.parse(input);
  const verdicts = pairs.map((pair) => {
    const before = graphql.buildSchema(pair.old);
    const after = graphql.buildSchema(pair.new);
    const breaking = graphql
      .findBreakingChanges(before, after)
      .map((change) => `${change.type}: ${change.description}`);
    return { id: pair.id, breaking };
  });
  process.stdout.write(JSON.stringify(verdicts));
});
