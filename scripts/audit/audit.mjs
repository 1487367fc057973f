// Runs the graphql-http server audit (GraphQL-over-HTTP conformance) against
// each URL given on the command line and fails when any MUST or SHOULD audit
// fails. Usage: node audit.mjs [--token JWT] http://127.0.0.1:4001/graphql [...]
// A `--token` applies to the URLs after it (admin answers introspection, which
// the audit uses, only to staff).
import { auditServer } from 'graphql-http';

let failed = 0;
let token = null;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--token') { token = args[++i]; continue; }
  const url = args[i];
  const bearer = token;
  const fetchFn = (input, init = {}) => {
    if (!bearer) return fetch(input, init);
    const headers = new Headers(init.headers || {});
    headers.set('authorization', `Bearer ${bearer}`);
    return fetch(input, { ...init, headers });
  };
  const results = await auditServer({ url, fetchFn });
  const counts = { ok: 0, warn: 0, error: 0 };
  for (const r of results) {
    counts[r.status]++;
    if (r.status !== 'ok') {
      const level = r.name.startsWith('MUST') ? 'MUST' : r.name.startsWith('SHOULD') ? 'SHOULD' : 'MAY';
      console.log(`  [${r.status}] ${r.name}: ${r.reason}`);
      if (level === 'MUST' || level === 'SHOULD') failed++;
    }
  }
  console.log(`${url}: ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors (of ${results.length})`);
}
if (failed > 0) {
  console.log(`graphql-http audit: ${failed} MUST/SHOULD audits not met`);
  process.exit(1);
}
console.log('graphql-http audit: every MUST and SHOULD audit met');
