/**
 * `npm run bench`: every benchmark in bench/, one after the other, printing figures.
 * `npm run bench -- NAME...` runs only the named ones.
 */
const ALL = ['analyze', 'compile', 'dag', 'marshal', 'localrun'];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : ALL;
  for (const name of names) {
    if (!ALL.includes(name)) {
      console.error(`bench: unknown benchmark "${name}" (have: ${ALL.join(', ')})`);
      process.exitCode = 2;
      return;
    }
    const mod = (await import(`./${name}.js`)) as { run: () => Promise<void> };
    console.log(`\n== ${name} ==`);
    await mod.run();
  }
}

await main();
