// graphql-http's audit of a live GraphQL over HTTP server: prints one JSON array, an entry per audit.
//   node audit-graphql-http.mjs <url>     (LEARNGRAPH_AUDIT_HEADERS: a JSON object of headers each request carries)
// Run by tests/server/test_graphql_over_http.py with node_modules from this folder's package-lock.json.
import { auditServer } from "graphql-http";

const url = process.argv[2];
const credential = JSON.parse(process.env.LEARNGRAPH_AUDIT_HEADERS || "{}");

// Every audit's request, with the credential added: the gateway answers 401 without one.
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(credential)) {
    headers.set(name, value);
  }
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn });
const report = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    entry.reason = result.reason;
    entry.httpStatus = result.response.status;
    entry.contentType = result.response.headers.get("content-type");
    try {
      entry.body = (await result.response.text()).slice(0, 500);
    } catch (error) {
      entry.body = `(unread: ${error})`;
    }
  }
  report.push(entry);
}
console.log(JSON.stringify(report));
