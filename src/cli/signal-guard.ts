/**
 * Imported first by main.ts, so it runs before any other module: by default SIGUSR1 makes Node
 * open its inspector (code execution inside the process that holds the client secret, for anyone
 * who can reach the port) and SIGHUP ends the process without a clean stop. A listener of our own
 * replaces both default actions for the whole life of the process; serve() gives them their
 * meaning (a log line, a web config reload). npm start, the image and the bin also run node with
 * --disable-sigusr1, which closes the short window before this module runs.
 */
const ignore = () => {};
process.on('SIGUSR1', ignore);
process.on('SIGHUP', ignore);
