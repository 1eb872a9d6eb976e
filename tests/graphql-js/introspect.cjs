// Reads the gateway's schema the way partner tooling does: graphql-js's getIntrospectionQuery()
// (with the options GraphiQL and code generators pass), buildClientSchema, printSchema; then
// compares it with schema.graphql read through the same introspection query, both sorted by
// graphql-js so only order may differ.
//
// usage: node introspect.cjs <graphql-url> <schema.graphql> <variant> [bearer]
// variant: default | deprecated-inputs | everything. Prints "SAME" or the two schemas; exits 0
// only when the introspected schema equals the file. graphql-js is found through
// GRAPHQL_JS_MODULES (set by `cargo xtask node`).
'use strict';
const fs = require('fs');
const path = require('path');

const modules = process.env.GRAPHQL_JS_MODULES;
if (!modules) {
  console.error('GRAPHQL_JS_MODULES is not set: run `cargo xtask node`');
  process.exit(2);
}
const graphql = require(path.join(modules, 'graphql'));

const variants = {
  default: {},
  'deprecated-inputs': { inputValueDeprecation: true },
  everything: {
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  },
};

async function main() {
  const [url, schemaFile, variant, bearer] = process.argv.slice(2);
  const options = variants[variant];
  if (!options) throw new Error(`unknown variant ${variant}`);
  const headers = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      query: graphql.getIntrospectionQuery(options),
      operationName: 'IntrospectionQuery',
    }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) {
    console.log(`REFUSED ${response.status} ${JSON.stringify(body.errors)}`);
    process.exit(3);
  }
  const normalize = (schema) =>
    graphql.printSchema(graphql.lexicographicSortSchema(schema)).trim();
  const introspected = normalize(graphql.buildClientSchema(body.data));
  // The committed schema goes through the same introspection query, so what the options leave
  // out (deprecated input values without inputValueDeprecation) is left out of both sides.
  const local = graphql.graphqlSync({
    schema: graphql.buildSchema(fs.readFileSync(schemaFile, 'utf8')),
    source: graphql.getIntrospectionQuery(options),
  });
  if (local.errors) throw new Error(JSON.stringify(local.errors));
  const committed = normalize(graphql.buildClientSchema(local.data));
  if (introspected === committed) {
    console.log('SAME');
    return;
  }
  console.log('--- introspected\n' + introspected + '\n--- schema.graphql\n' + committed);
  process.exit(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(4);
});
