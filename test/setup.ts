import { setDefaultTimeout } from "bun:test";

// The NAT lab starts real processes in namespaces and waits several seconds between peers on purpose.
setDefaultTimeout(60_000);
