// A JavaScript client of the Relleks API's subscriptions, for tests/realtime/test_js_client.py:
// graphql-ws (the client GraphiQL and web apps use) over the platform's WebSocket, which, as in
// browsers, hands binary frames to the page as Blobs: only text frames can be read.
//
//   node subscribe.mjs <ws://host:port/graphql> <access token> <organization id> [events]
//
// Prints one JSON line per happening ({"connected": true}, {"next": ...}, {"error": ...}) and
// exits 0 after `events` (default 1) results, 1 on any error. A socket closed with 1012
// "Service Restart" (a server process shutting down, docs/shutdown.md) is no error: it prints
// {"closed": 1012}, reconnects (to the next process) and subscribes again.
import { createClient } from "graphql-ws";

const [url, token, organizationId, wanted = "1"] = process.argv.slice(2);
if (!url || !token || !organizationId) {
  console.error("usage: node subscribe.mjs <url> <token> <organizationId> [events]");
  process.exit(2);
}
if (typeof WebSocket === "undefined") {
  console.error("no global WebSocket: run Node 22+, or Node 20 with --experimental-websocket");
  process.exit(2);
}

const SERVICE_RESTART = 1012;
let restarting = false;
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");
const fail = (error) => {
  const message = error instanceof Error ? error.message
    : error && error.reason !== undefined ? `closed ${error.code}: ${error.reason}`
    : JSON.stringify(error);
  print({ error: message });
  process.exit(1);
};

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  lazy: false,
  // Reconnect when the server restarts, and only then (every other close is an error here),
  // until connected again: the new process may refuse connections for a while as it starts.
  // graphql-ws subscribes again on the new socket.
  retryAttempts: 30,
  shouldRetry: (event) => restarting || event?.code === SERVICE_RESTART,
  retryWait: (retries) => new Promise((resolve) =>
    setTimeout(resolve, Math.min(250 * 2 ** retries, 2000))),
  onNonLazyError: fail,
  on: {
    connected: () => {
      restarting = false;
      print({ connected: true });
    },
    closed: (event) => {
      if (event?.code === SERVICE_RESTART) {
        restarting = true;
        print({ closed: event.code });
      }
    },
  },
});

const query = `subscription ($organizationId: ID!) {
  leadEvents(organizationId: $organizationId) { type leadId lead { name } }
}`;
let left = Number(wanted);
client.subscribe({ query, variables: { organizationId } }, {
  next: (result) => {
    print({ next: result });
    left -= 1;
    if (left === 0) {
      client.dispose();
      process.exit(0);
    }
  },
  error: fail,
  complete: () => fail(new Error("the subscription completed before its events came")),
});
