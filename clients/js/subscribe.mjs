// A JavaScript client of the Relleks API's subscriptions, for tests/realtime/test_js_client.py:
// graphql-ws (the client GraphiQL and web apps use) over the platform's WebSocket, which, as in
// browsers, hands binary frames to the page as Blobs: only text frames can be read.
//
//   RELLEKS_REFRESH_TOKEN=<refresh token> \
//   node subscribe.mjs <ws://host:port/graphql> <access token> <organization id> [events]
//
// Prints one JSON line per happening ({"connected": true}, {"next": ...}, {"closed": code},
// {"refreshed": true}, {"error": ...}) and exits 0 after `events` (default 1) results, 1 on any
// error. Two closes are no error, and graphql-ws reconnects and subscribes again by itself:
// - 1012 "Service Restart": a server process shutting down (docs/shutdown.md); the client
//   reconnects to the next process;
// - 4403: the access token expired (at its expiry instant, or it was already expired at
//   connect). With RELLEKS_REFRESH_TOKEN, the client trades the refresh token for new tokens
//   (`refreshSession` over HTTP) in `connectionParams`, which graphql-ws calls again for the
//   new socket. Without one it is an error, like 4401 (the credential ended: sign in again),
//   which graphql-ws never retries.
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
const TOKEN_EXPIRED = 4403;
let restarting = false;
let accessToken = token;
let refreshToken = process.env.RELLEKS_REFRESH_TOKEN || null;
let mustRefresh = false;
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");
const fail = (error) => {
  const message = error instanceof Error ? error.message
    : error && error.reason !== undefined ? `closed ${error.code}: ${error.reason}`
    : JSON.stringify(error);
  print({ error: message });
  process.exit(1);
};

const REFRESH = `mutation ($refreshToken: String!) {
  refreshSession(input: { refreshToken: $refreshToken }) { accessToken refreshToken }
}`;

// New tokens for the same session; the old refresh token is spent (single use).
async function refresh() {
  const response = await fetch(url.replace(/^ws/, "http"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: REFRESH, variables: { refreshToken } }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`refresh refused: ${JSON.stringify(body.errors)}`);
  ({ accessToken, refreshToken } = body.data.refreshSession);
  print({ refreshed: true });
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  // Called for every socket: after a 4403 it refreshes first.
  connectionParams: async () => {
    if (mustRefresh) {
      mustRefresh = false;
      try {
        await refresh();
      } catch (error) {
        fail(error);
      }
    }
    return { Authorization: `Bearer ${accessToken}` };
  },
  lazy: false,
  // Reconnect when the server restarts or the access token expired (with a refresh token), and
  // only then (every other close is an error here), until connected again: the new process may
  // refuse connections for a while as it starts. graphql-ws subscribes again on the new socket.
  retryAttempts: 30,
  shouldRetry: (event) => restarting || event?.code === SERVICE_RESTART
    || (event?.code === TOKEN_EXPIRED && refreshToken !== null),
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
      } else if (event?.code === TOKEN_EXPIRED && refreshToken !== null) {
        mustRefresh = true;
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
