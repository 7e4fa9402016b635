// Steps of the office pages (web/office.js) in a real browser, for runners such as
// office-pages.mjs: each takes a playwright `page` (logged in as an administrator unless said
// otherwise), drives the page by roles and labels like a keyboard or screen-reader user, and
// throws on the first failed check. The English words are matched; `checkLanguages` switches
// to French and back.

import { join } from 'node:path';

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exactly = (t) => new RegExp(`^${escapeRe(t)}$`);
/// The page's notice (role status or alert) once it says `text`.
const noticeSays = (page, text) => page.locator('#notice', { hasText: text }).waitFor();

/// Logs in with the keyboard on the login form (the page must be on it or be sent to it).
export async function logIn(page, { base, email, password, landing = /^#\/$/ }) {
  await page.goto(`${base}/app/#/login`);
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForFunction((re) => new RegExp(re).test(location.hash), landing.source);
}

/// No sideways scrolling at the current width.
export async function noSideways(page, where) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(scroll <= width, `${where}: no sideways scrolling at ${width}px (content ${scroll}px)`);
}

/// At a tablet's 1024 px and a phone's 390 px: no sideways scrolling, a screenshot of each.
export async function atBothWidths(page, where, artifacts, name) {
  const size = page.viewportSize();
  for (const [width, height] of [[1024, 768], [390, 844]]) {
    await page.setViewportSize({ width, height });
    await noSideways(page, where);
    if (artifacts) await page.screenshot({ path: join(artifacts, `office-${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(size);
}

/// Every word of the page exists in English and in French: the page is drawn in French with the
/// header's language switcher, `I18N.missing` stays empty, and the switch goes back to English.
/// `heading` is the page's English h1 (a string or RegExp) and `headingFr` the French one.
export async function checkLanguages(page, { where, heading, headingFr, artifacts, name }) {
  const missing = () => page.evaluate(() => [...I18N.missing]);
  let m = await missing();
  check(m.length === 0, `${where} in English: every word has a translation${m.length ? ` (${m.join(', ')})` : ''}`);
  await page.getByRole('combobox', { name: 'Language' }).selectOption('fr');
  await page.getByRole('heading', { level: 1, name: headingFr }).waitFor();
  check(await page.evaluate(() => document.documentElement.lang) === 'fr', `${where}: the page is in French`);
  m = await missing();
  check(m.length === 0, `${where} in French: every word has a translation${m.length ? ` (${m.join(', ')})` : ''}`);
  if (artifacts) await atBothWidths(page, `${where} (French)`, artifacts, `${name}-fr`);
  await page.getByRole('combobox', { name: 'Langue' }).selectOption('en');
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/// The office home, reached by the "Office" link of the main navigation: its links.
export async function officeHome(page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Office' }).click();
  await page.getByRole('heading', { level: 1, name: 'School office' }).waitFor();
  const links = {
    Accounts: '#/office/accounts',
    'Import a roster': '#/office/roster',
    Outbox: '#/office/outbox',
    'Audit log': '#/office/audit',
    Subjects: '#/office/subjects',
  };
  for (const [name, href] of Object.entries(links)) {
    const link = page.getByRole('main').getByRole('link', { name, exact: true });
    check(await link.getAttribute('href') === href, `the office home links "${name}" to ${href}`);
  }
}

const accountCard = (page, name) => page.locator('.office-account').filter({ has: page.getByRole('heading', { level: 3, name: exactly(name) }) });

/// The accounts page: every name in `expect` is listed.
export async function accountsPage(page, { base, expect = [] }) {
  await page.goto(`${base}/app/#/office/accounts`);
  await page.getByRole('heading', { level: 1, name: 'Accounts' }).waitFor();
  await page.getByRole('status').filter({ hasText: /^Accounts \d+ to \d+\.$|^No account matches\.$/ }).waitFor();
  for (const name of expect) {
    check(await accountCard(page, name).count() === 1, `the accounts page lists ${name}`);
  }
}

/// The role filter: accounts of that role only.
export async function filterByRole(page, { role, label, present = [], absent = [] }) {
  await page.getByLabel('Role', { exact: true }).first().selectOption(role);
  // The list is drawn again: wait until a listed account shows the role asked for.
  if (present.length) await accountCard(page, present[0]).waitFor();
  for (const name of absent) await accountCard(page, name).waitFor({ state: 'detached' });
  const roles = await page.locator('.office-account .office-badges .badge:first-child').allTextContents();
  check(roles.length > 0 && roles.every((r) => r === label), `the role filter shows only ${label}s (${roles.join(', ')})`);
  for (const name of present) check(await accountCard(page, name).count() === 1, `${name} is among the ${label}s`);
  await page.getByLabel('Role', { exact: true }).first().selectOption('');
  for (const name of absent) await accountCard(page, name).waitFor();
}

/// The search box: `q` finds `expect` and not `absent` (needs the API's `q`).
export async function searchAccounts(page, { q, expect = [], absent = [] }) {
  await page.getByRole('searchbox', { name: 'Name or e-mail contains' }).fill(q);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  for (const name of absent) await accountCard(page, name).waitFor({ state: 'detached' });
  for (const name of expect) await accountCard(page, name).waitFor();
  check(true, `searching "${q}" finds ${expect.join(', ') || 'nobody'}${absent.length ? `, not ${absent.join(', ')}` : ''}`);
  await page.getByRole('searchbox', { name: 'Name or e-mail contains' }).fill('');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  for (const name of absent) await accountCard(page, name).waitFor();
}

/// Verifies an unverified account with its "Verify NAME" button.
export async function verifyAccount(page, { name }) {
  const card = accountCard(page, name);
  check(await card.locator('.badge', { hasText: /^not verified$/ }).count() === 1, `${name} starts unverified`);
  await page.getByRole('button', { name: `Verify ${name}` }).click();
  await noticeSays(page, `${name} is verified.`);
  await card.locator('.badge', { hasText: /^verified$/ }).waitFor();
  check(await page.getByRole('button', { name: `Verify ${name}` }).count() === 0, `${name} is verified and the button is gone`);
}

/// Ends an account's sessions; the notice counts them.
export async function revokeSessions(page, { name, expectCount }) {
  await page.getByRole('button', { name: `End sessions of ${name}` }).click();
  const text = expectCount === 1 ? `${name}: 1 session ended.` : `${name}: ${expectCount} sessions ended.`;
  await noticeSays(page, text);
  check(true, `ending ${name}'s sessions ends ${expectCount}`);
}

/// Fills and sends "Create an account"; answers the confirmation's text.
export async function createAccount(page, { role = 'teacher', name, email, employeeId, phone, roll, year, branch }) {
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Create an account' }) });
  await form.getByLabel('Role').selectOption(role);
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('E-mail').fill(email);
  const fill = async (label, v) => { if (v !== undefined) await form.getByLabel(label).fill(v); };
  await fill('Employee number', employeeId);
  await fill('Phone', phone);
  await fill('Roll number', roll);
  await fill('Year', year);
  await fill('Branch', branch);
  await form.getByRole('button', { name: 'Create and send the invitation' }).click();
  const done = form.locator('.good-card', { hasText: `${name}'s account is created` });
  await done.waitFor();
  await accountCard(page, name).waitFor();
  check(await form.getByLabel('Name').inputValue() === '', 'the form is emptied for the next account');
  return (await done.textContent()).trim();
}

/// Creates a teacher with an invitation: the account shows the invitation pending, and the
/// invitation can be sent again (needs the invitation API).
export async function inviteTeacher(page, { name, email }) {
  const text = await createAccount(page, { role: 'teacher', name, email });
  check(text.includes(`an invitation to choose a password is on its way to ${email}`), `the office is told the invitation to ${email} is sent`);
  check(!/first password/.test(text), 'the office never sees a password');
  const card = accountCard(page, name);
  await card.locator('.badge', { hasText: /^invitation pending/ }).waitFor();
  await page.getByRole('button', { name: `Resend invitation to ${name}` }).click();
  await noticeSays(page, `A new invitation for ${name} is on its way to ${email}.`);
  await card.locator('.badge', { hasText: /^invitation pending/ }).waitFor();
  check(true, `${name}'s invitation is pending and can be sent again`);
}

/// The token of the latest invitation mailed to `email`, read through the outbox API with the
/// page's administrator session; the link for this server.
export async function invitationLinkFor(page, { base, email }) {
  const token = await page.evaluate(async (to) => {
    const me = JSON.parse(sessionStorage.getItem('rollcall.session'));
    const get = (p) => fetch(p, { headers: { Authorization: `Bearer ${me.token}` } }).then((r) => r.json());
    // Wherever it is by now: still queued, sent or failed (the list shows one state at a time).
    const messages = [];
    for (const status of ['pending', 'sent', 'dead']) messages.push(...(await get(`/api/admin/outbox?status=${status}&limit=500`)).messages);
    const msg = messages.filter((m) => m.recipient === to && m.kind === 'invitation').sort((a, b) => b.id - a.id)[0];
    if (!msg) return null;
    const full = await get(`/api/admin/outbox/${msg.id}`);
    const m = /#\/invitation\/([A-Za-z0-9_-]+)/.exec(full.body_text);
    return m ? m[1] : null;
  }, email);
  check(!!token, `an invitation to ${email} is in the outbox`);
  return `${base}/app/#/invitation/${token}`;
}

/// The invited person (not logged in) opens their link, is greeted, chooses a password (a
/// mismatch and a password the API refuses are shown first) and lands on their start page.
export async function acceptInvitation(page, { link, name, email, password, role = 'teacher', home = 'My subjects' }) {
  await page.goto(link);
  await page.getByRole('heading', { level: 1, name: `Welcome, ${name}` }).waitFor();
  check(await page.getByLabel('E-mail').inputValue() === email, 'the invitation page names the e-mail address');
  check(await page.getByText(`account for you as ${role}`).count() === 1, `and the role (${role})`);
  const alert = page.getByRole('alert').filter({ hasText: /\S/ });
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('New password again').fill(`${password}x`);
  await page.getByRole('button', { name: 'Set my password' }).click();
  await alert.filter({ hasText: 'The two passwords differ' }).waitFor();
  check(true, 'two different passwords are refused on the page');
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByLabel('New password again').fill('short');
  await page.getByRole('button', { name: 'Set my password' }).click();
  const refused = alert.filter({ hasNotText: 'differ' });
  await refused.waitFor();
  const policy = (await refused.first().textContent()).trim();
  check(/\S/.test(policy) && !/differ/.test(policy), `the password policy's answer is shown ("${policy}")`);
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('New password again').fill(password);
  await page.getByRole('button', { name: 'Set my password' }).click();
  await page.getByRole('heading', { level: 1, name: home }).waitFor();
  const saved = await page.evaluate(() => JSON.parse(sessionStorage.getItem('rollcall.session')));
  check(saved && saved.token && saved.role === role && saved.name === name, `${name} is logged in as ${role}`);
}

/// A link that does not work (unknown token) says so, with a way on.
export async function badInvitation(page, { base }) {
  await page.goto(`${base}/app/#/invitation/not-a-real-token`);
  await page.getByRole('heading', { level: 1, name: 'This invitation link does not work' }).waitFor();
  check(await page.getByRole('alert').filter({ hasText: /\S/ }).count() >= 1, 'the reason is announced');
  check(await page.getByRole('link', { name: 'Log in' }).count() === 1, 'and the page leads to the login');
}

/// Changes a staff account's role (needs PATCH /api/admin/users/{id}).
export async function changeRole(page, { name, role, label }) {
  await page.getByLabel(`New role of ${name}`).selectOption(role);
  await page.getByRole('button', { name: `Change role of ${name}` }).click();
  await noticeSays(page, `${name} is now ${label}.`);
  await accountCard(page, name).locator('.office-badges .badge', { hasText: exactly(label) }).waitFor();
  check(true, `${name} is now ${label}`);
}

/// Deletes an account: the preview lists what goes (`expect`: label -> count), then the confirm.
export async function deleteAccount(page, { name, expect = {} }) {
  await page.getByRole('button', { name: `Delete ${name}…` }).click();
  const box = page.getByRole('group', { name: `Delete ${name}?` });
  await box.waitFor();
  for (const [label, n] of Object.entries(expect)) {
    check(await box.getByRole('listitem').filter({ hasText: new RegExp(`^${escapeRe(label)}: ${n}$`) }).count() === 1,
      `the deletion preview of ${name} shows "${label}: ${n}"`);
  }
  await box.getByRole('button', { name: 'Keep the account' }).click();
  await box.waitFor({ state: 'detached' });
  check(await accountCard(page, name).count() === 1, 'keeping the account changes nothing');
  await page.getByRole('button', { name: `Delete ${name}…` }).click();
  await page.getByRole('group', { name: `Delete ${name}?` }).getByRole('button', { name: `Delete ${name} for good` }).click();
  await noticeSays(page, `${name} was deleted.`);
  await accountCard(page, name).waitFor({ state: 'detached' });
  check(true, `${name} is deleted and gone from the list`);
}

/// The roster page before any file: the import cannot be started.
export async function rosterPage(page, { base }) {
  await page.goto(`${base}/app/#/office/roster`);
  await page.getByRole('heading', { level: 1, name: 'Import a roster' }).waitFor();
  check(await page.getByLabel('Roster file (CSV)').count() === 1, 'the roster page has a labelled file input');
  check(await page.getByRole('button', { name: 'Import', exact: true }).isDisabled(), 'Import is disabled before a file is checked');
  await page.getByRole('button', { name: 'Check the file' }).click();
  await page.getByRole('alert').filter({ hasText: 'Choose a file first.' }).waitFor();
  check(true, 'checking without a file asks for one');
}

const csvFile = (name, text) => ({ name, mimeType: 'text/csv', buffer: Buffer.from(text, 'utf8') });
const summary = (page) => page.locator('#roster-summary').textContent();

/// Import a roster: a file with errors is previewed with every problem and cannot be imported;
/// the corrected file previews `expect` ({create, update, unchanged}), imports, and a second
/// import of it changes nothing (needs the roster API).
export async function importRoster(page, { base, badCsv, goodCsv, expectErrors, expect, artifacts }) {
  await rosterPage(page, { base });
  const file = page.getByLabel('Roster file (CSV)');
  const importButton = page.getByRole('button', { name: 'Import', exact: true });
  const checkFile = page.getByRole('button', { name: 'Check the file' });

  await file.setInputFiles(csvFile('roster-bad.csv', badCsv));
  await checkFile.click();
  await page.getByRole('heading', { level: 2, name: 'What the import would do' }).waitFor();
  const bad = await summary(page);
  check(bad.includes(expectErrors === 1 ? '1 error' : `${expectErrors} errors`), `the preview counts ${expectErrors} error(s): ${bad}`);
  const errorRows = page.locator('#roster-lines tbody tr.office-bad');
  check(await errorRows.count() === expectErrors, 'every line with an error is highlighted');
  for (const row of await errorRows.all()) {
    check(await row.locator('li.error-text').count() >= 1, `line ${await row.locator('th').textContent()} names its problem`);
  }
  check(await importButton.isDisabled(), 'a file with errors cannot be imported');
  if (artifacts) await atBothWidths(page, 'roster preview with errors', artifacts, 'roster-errors');

  await file.setInputFiles(csvFile('roster.csv', goodCsv));
  check(await page.locator('#roster-summary').count() === 0, 'choosing another file clears the preview');
  await checkFile.click();
  await page.locator('#roster-summary').waitFor();
  const good = await summary(page);
  const want = [`${expect.create} to create`, `${expect.update} to update`, `${expect.unchanged} unchanged`, '0 errors'];
  check(want.every((w) => good.includes(w)), `the corrected file previews ${want.join(', ')} (${good})`);
  check(await importButton.isEnabled(), 'a file without errors can be imported');
  await importButton.click();
  await page.getByRole('heading', { level: 2, name: 'Imported' }).waitFor();
  const done = await summary(page);
  check(done.includes(`${expect.create} created`) && done.includes(`${expect.update} updated`), `the report: ${done}`);
  check(await importButton.isDisabled(), 'the same check cannot be imported twice');
  if (artifacts) await atBothWidths(page, 'roster report', artifacts, 'roster-report');

  // The same file again: nothing to do.
  await file.setInputFiles(csvFile('roster-again.csv', goodCsv));
  await checkFile.click();
  await page.getByRole('heading', { level: 2, name: 'What the import would do' }).waitFor();
  const total = expect.create + expect.update + expect.unchanged;
  const again = await summary(page);
  check(again.includes('0 to create') && again.includes('0 to update') && again.includes(`${total} unchanged`),
    `a second preview of the same file changes nothing (${again})`);
  await importButton.click();
  await page.getByRole('heading', { level: 2, name: 'Imported' }).waitFor();
  const rows = await page.locator('#roster-lines tbody tr').count();
  const unchanged = await page.locator('#roster-lines tbody .badge', { hasText: /^unchanged$/ }).count();
  check(rows === total && unchanged === total, `re-importing shows every line unchanged (${unchanged} of ${rows})`);
}
