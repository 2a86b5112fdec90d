import { accessSync, constants } from "node:fs";

/** A preflight problem when `bin` is neither an executable path nor found in PATH; `debianPackage` has it. */
export function missingProgram(bin: string, debianPackage?: string): string | undefined {
  if (bin.includes("/")) {
    try {
      accessSync(bin, constants.X_OK);
      return undefined;
    } catch {
      return `${bin} is not an executable file`;
    }
  }
  return Bun.which(bin)
    ? undefined
    : `${bin} not found in PATH${debianPackage ? ` (Debian/Ubuntu: apt-get install ${debianPackage})` : ""}`;
}
