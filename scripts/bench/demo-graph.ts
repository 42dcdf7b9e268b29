/**
 * The demo's fake Graph as a process of its own, for the leak check of `npm run bench`: the
 * process under test then holds only the exporter's side, and the two share the machine's cores
 * as an exporter and Graph would. Prints {"endpoint": "http://127.0.0.1:N"} once it listens.
 */
import { startDemo } from '../../src/demo.js';

const graph = await startDemo();
process.stdout.write(`${JSON.stringify({ endpoint: graph.endpoint })}\n`);
process.once('SIGTERM', () => {
  graph.close().then(() => process.exit(0));
});
