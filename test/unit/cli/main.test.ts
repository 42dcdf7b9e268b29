/** The composition root runs only when executed: importing it starts nothing and exits nothing. */
import { describe, expect, it, vi } from 'vitest';

describe('src/main.ts', () => {
  it('does nothing on import but define main()', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((() => true) as never);
    // Were main to run on import, it would only print its version: it never reaches for a network.
    const argv = process.argv;
    process.argv = [argv[0] ?? 'node', 'main.js', '--version'];
    const module = await import('../../../src/main.js').finally(() => {
      process.argv = argv;
    });
    expect(typeof module.main).toBe('function');
    expect(exit).not.toHaveBeenCalled();
    expect(write).not.toHaveBeenCalled();
    exit.mockRestore();
    write.mockRestore();
  });

  it('answers --version through main() without exiting the process', async () => {
    const { main } = await import('../../../src/main.js');
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => out.push(String(chunk)) > 0) as never);
    expect(await main(['--version'], {})).toBe(0);
    write.mockRestore();
    expect(out.join('')).toMatch(/^partner-security-score-exporter \S+ \(revision \S+, node v\d+/);
  });
});
