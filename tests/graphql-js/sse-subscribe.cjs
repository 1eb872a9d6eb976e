// Subscribes with graphql-sse, the reference GraphQL over Server-Sent Events client, in its
// "distinct connections" mode (one HTTP request per subscription), as a browser or Node
// application behind a proxy that blocks WebSockets would: POSTs <document> with
// <variables-json> to <url> with the bearer token, and prints one JSON line per event:
// {"next": result} for each result, {"error": message} on an error, {"complete": true} when the
// server ends the stream. Prints "READY" half a second after subscribing. Exits after <count>
// results, on an error or when the stream completes.
//
// usage: node sse-subscribe.cjs <url> <bearer> <document> <variables-json> <count>
// graphql-sse is found through GRAPHQL_JS_MODULES (set by `cargo xtask node`); Node's own fetch
// carries the requests.
'use strict';
const path = require('path');

const modules = process.env.GRAPHQL_JS_MODULES;
if (!modules) {
  console.error('GRAPHQL_JS_MODULES is not set: run `cargo xtask node`');
  process.exit(2);
}
const { createClient } = require(path.join(modules, 'graphql-sse'));

const [url, bearer, query, variablesJson, countText] = process.argv.slice(2);
const wanted = Number(countText);
let received = 0;

const client = createClient({
  url,
  singleConnection: false,
  retryAttempts: 0,
  headers: { Authorization: `Bearer ${bearer}` },
});

client.subscribe(
  { query, variables: JSON.parse(variablesJson) },
  {
    next: (result) => {
      console.log(JSON.stringify({ next: result }));
      received += 1;
      if (received >= wanted) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (error) => {
      const message = Array.isArray(error)
        ? JSON.stringify(error)
        : String(error && (error.message || error.code || error));
      console.log(JSON.stringify({ error: message }));
      process.exit(1);
    },
    complete: () => {
      console.log(JSON.stringify({ complete: true }));
      process.exit(0);
    },
  },
);
setTimeout(() => console.log('READY'), 500);
