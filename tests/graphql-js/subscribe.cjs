// Subscribes with graphql-ws, the reference graphql-transport-ws client, as a browser or Node
// application would: connects to <ws-url> with the bearer token in connectionParams, runs
// <document> with <variables-json>, and prints one JSON line per event: {"next": result} for each
// result, {"error": ...} on an error, {"closed": code} when the socket closes. Prints "READY"
// once the server acknowledged the connection and the subscription was sent. Exits after
// <count> results, on an error or when the socket closes.
//
// usage: node subscribe.cjs <ws-url> <bearer> <document> <variables-json> <count>
// graphql-ws and ws are found through GRAPHQL_JS_MODULES (set by `cargo xtask node`).
'use strict';
const path = require('path');

const modules = process.env.GRAPHQL_JS_MODULES;
if (!modules) {
  console.error('GRAPHQL_JS_MODULES is not set: run `cargo xtask node`');
  process.exit(2);
}
const { createClient } = require(path.join(modules, 'graphql-ws'));
const WebSocket = require(path.join(modules, 'ws'));

const [url, bearer, query, variablesJson, countText] = process.argv.slice(2);
const wanted = Number(countText);
let received = 0;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  connectionParams: { Authorization: `Bearer ${bearer}` },
  on: {
    connected: () => {
      // The subscribe message follows the acknowledgement on the same socket.
      setTimeout(() => console.log('READY'), 200);
    },
    closed: (event) => {
      console.log(JSON.stringify({ closed: event && event.code }));
      process.exit(0);
    },
  },
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
      console.log(JSON.stringify({ error: String(error && (error.message || error.code || error)) }));
      process.exit(1);
    },
    complete: () => process.exit(0),
  },
);
