import pkg from "../package.json" with { type: "json" };

// Replaced at build time by scripts/build.ts (bun build --define); absent when run from source.
declare const NETPUNCH_COMMIT: string;
declare const NETPUNCH_TARGET: string;

export const VERSION: string = pkg.version;
export const COMMIT: string = typeof NETPUNCH_COMMIT === "string" ? NETPUNCH_COMMIT : "source";
export const TARGET: string =
  typeof NETPUNCH_TARGET === "string"
    ? NETPUNCH_TARGET
    : `bun-${Bun.version} ${process.platform}-${process.arch}`;

/** `netpunch 0.1.0 (commit 1a2b3c4, linux-x64)`: what to quote in a bug report. */
export const versionLine = (): string => `netpunch ${VERSION} (commit ${COMMIT}, ${TARGET})`;
