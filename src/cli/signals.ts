/** What SIGUSR1 and SIGHUP do once the exporter serves (src/cli/signal-guard.ts covers the time before). */
import { systemClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { WebServer } from '../web/server.js';

/** How often a repeated SIGUSR1 is logged at most. */
const SIGUSR1_LOG_EVERY_MS = 60_000;

/**
 * SIGHUP re-reads the web config file at once (it is also re-read when it changes); SIGUSR1 is
 * refused with a log line (at most one a minute). Returns the function that removes the handlers.
 */
export function handleSignals(logger: Logger, web: WebServer): () => void {
  let usr1LoggedAt = Number.NEGATIVE_INFINITY;
  const onUsr1 = () => {
    // A minute of real time: the wall clock may be stepped back by hours.
    const now = systemClock.monoMs();
    if (now - usr1LoggedAt < SIGUSR1_LOG_EVERY_MS) return;
    usr1LoggedAt = now;
    logger.warn('SIGUSR1 ignored: this exporter never opens the Node.js inspector');
  };
  const onHup = () => {
    if (web.webConfigStatus() === undefined) logger.info('SIGHUP received: no web config file to re-read; other settings need a restart');
    else {
      logger.info('SIGHUP received: re-reading the web config file; other settings need a restart');
      web.reload();
    }
  };
  process.on('SIGUSR1', onUsr1);
  process.on('SIGHUP', onHup);
  return () => {
    process.off('SIGUSR1', onUsr1);
    process.off('SIGHUP', onHup);
  };
}
