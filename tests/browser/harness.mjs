// What every browser runner shares: the variables the Rust test sets, Debian's Chromium with the
// flags a container needs, the screenshots' folder, and the watch that fails a run on any
// console error, page error or HTTP refusal its steps did not ask for.
import { chromium } from 'playwright-core';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/// A variable the Rust test must have set.
export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

/// `$ARTIFACTS`, without this runner's earlier pictures (the names `mine` matches): the other
/// runners write theirs alongside, at the same time.
export function artifactsFolder(mine) {
  const artifacts = env('ARTIFACTS');
  mkdirSync(artifacts, { recursive: true });
  for (const f of readdirSync(artifacts)) if (mine.test(f)) rmSync(join(artifacts, f), { force: true });
  return artifacts;
}

/// Headless Chromium (`$CHROMIUM`), with `args` added to the container's flags.
export function launch(args = []) {
  return chromium.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', ...args],
  });
}

/// Every problem on `page` so far: console and page errors, and each answer of 400 or more
/// whose `STATUS from METHOD URL` none of `expected` matches (the refusals the steps cause on
/// purpose). The browser logs each refused request as a console error too; the answer itself
/// is what is judged.
export function watch(page, expected = []) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    const what = `${r.status()} from ${r.request().method()} ${r.url()}`;
    if (r.status() >= 400 && !expected.some((re) => re.test(what))) problems.push(what);
  });
  page.setDefaultTimeout(30000);
  return problems;
}
