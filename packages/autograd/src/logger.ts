/**
 * The library never writes to the console itself. Messages go to a logger that is silent by
 * default; an application installs its own (`setLogger(console)` is enough).
 */
export interface Logger {
  debug(message: string): void;
  warn(message: string): void;
}

const silent: Logger = { debug() {}, warn() {} };
let current: Logger = silent;

/** The logger in use: the silent one unless `setLogger` installed another. */
export function getLogger(): Logger {
  return current;
}

/** Installs a logger (or the silent one with `null`); returns the previous one. */
export function setLogger(logger: Logger | null): Logger {
  const previous = current;
  current = logger ?? silent;
  return previous;
}
