/** Every failure netpunch reports: a stable code, one line of message, one line of hint. */
export type ErrorCode =
  | "E_USAGE" // bad command line or option value (exit 2)
  | "E_ADDRESS" // a malformed host:port (exit 2)
  | "E_SECRET" // missing or unreadable secret (exit 2)
  | "E_PORT_IN_USE" // bind failed (exit 1)
  | "E_BIND" // other socket errors (exit 1)
  | "E_RESOLVE" // server host name did not resolve (exit 1)
  | "E_SERVER_SILENT" // no authenticated answer from the rendezvous server (exit 1)
  | "E_SERVER_FULL" // the server refused one more session: its limit, or its limit per address (exit 1)
  | "E_TIMEOUT" // the partner did not show up within --timeout (exit 1)
  | "E_PUNCH_FAILED" // matched, but no direct path was proven (exit 1)
  | "E_HOOK" // a hook failed or is unknown (exit 1, or 2 when unknown)
  | "E_ABORTED"; // the caller's AbortSignal fired

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(["E_USAGE", "E_ADDRESS", "E_SECRET"]);

/** Thrown for every expected failure; `hint` says what the user can do about it. */
export class NetpunchError extends Error {
  override readonly name = "NetpunchError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.hint = hint;
  }

  /** 2 for bad usage or input, 1 for everything that went wrong at run time. */
  get exitCode(): number {
    return USAGE_CODES.has(this.code) ? 2 : 1;
  }
}

export const isNetpunchError = (e: unknown): e is NetpunchError => e instanceof NetpunchError;
