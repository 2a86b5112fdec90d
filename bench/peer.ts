// A peer for the benchmarks: the library's connect() with timestamps of each step, printed as one JSON
// line. Timestamps are wall-clock ms: every lab namespace shares this machine's clock, so they compare.
import { connect } from "../src/index.ts";

const [role, server, secret] = process.argv.slice(2);
if ((role !== "a" && role !== "b") || !server || !secret) {
  console.error("usage: bun bench/peer.ts a|b SERVER_IP:PORT SECRET");
  process.exit(2);
}
const now = () => performance.timeOrigin + performance.now();
const t: Record<string, number> = { start: now() };
const result = await connect({
  server,
  secret,
  role,
  local: ":10000",
  onEvent: (e) => {
    if (process.env.NP_TRACE) console.error(Math.round(now() % 100000), JSON.stringify(e));
    if (e.type === "registered" || e.type === "matched" || e.type === "proven") t[e.type] ??= now();
  },
});
t.released = now();
console.log(JSON.stringify({ role, t, result }));
