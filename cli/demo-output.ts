/** The demo's report goes to stdout, one line at a time (its logs go to stderr). */
export const out = (line = '') => process.stdout.write(`${line}\n`);
