/** Set up before every integration and stack test file: whatever the file started is ended with it (test/helpers/children.ts). */
import { afterAll } from 'vitest';
import { killChildren } from './helpers/children.js';

afterAll(async () => {
  await killChildren();
});
