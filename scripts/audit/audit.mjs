// Runs graphql-http's GraphQL-over-HTTP server audits against the URL given as the first
// argument, prints one line per audit (ok / notice / warn / error with the reason) and exits 1
// when any audit is an error. Started by scripts/graphql_http_audit.sh.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}

const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  const line = `${result.status.toUpperCase().padEnd(6)} ${result.id} ${result.name}`;
  if (result.status === 'ok') {
    console.log(line);
    continue;
  }
  let body = '';
  try {
    body = (await result.response.text()).slice(0, 300);
  } catch {
    // the body was already read by the audit
  }
  console.log(`${line}\n       reason: ${result.reason}` +
              `\n       response: ${result.response.status} ${body}`);
}
console.log(`\n${results.length} audits: ${counts.ok} ok, ${counts.notice} notice, ` +
            `${counts.warn} warn, ${counts.error} error`);
process.exit(counts.error > 0 ? 1 : 0);
