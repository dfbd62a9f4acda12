/** The `chard` command. */
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`chard: no commands yet (${argv.join(' ')})\n`);
  return 2;
}
