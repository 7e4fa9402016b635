// The office pages (web/office.js) in a real browser (Debian's Chromium through
// playwright-core), on a server the Rust test `browser::office_pages_in_a_real_browser` spawned
// and filled: the administrator logs in, opens the office home, lists, filters, verifies and
// ends the sessions of accounts, creates one, sees the roster page and a broken invitation
// link; every page in English and in French with no word missing, no sideways scrolling at
// 1024 px and 390 px; the search, an invitation accepted by the invited teacher, a role change,
// a deletion with its preview and a roster import. Screenshots: $ARTIFACTS/office-*.png. Exits non-zero on the
// first failed step, naming it.
import { join } from 'node:path';
import { artifactsFolder, env, launch, watch } from './harness.mjs';
import * as S from './office-steps.mjs';

const base = env('ROLLCALL_URL');
const artifacts = artifactsFolder(/^office-/);

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'en-GB' });
const page = await context.newPage();
// Answers the steps cause on purpose: the unknown invitation link, the password the policy
// refuses, the roster file with errors.
const problems = watch(page, [/\/api\/auth\/invitation\?token=not-a-real-token$/, /\/api\/auth\/accept-invitation$/, /\/api\/admin\/roster\/preview$/]);

const teacher = env('TEACHER_NAME');
const student = env('STUDENT_NAME');
let step = 'start';
try {
  step = 'log in as the administrator';
  await S.logIn(page, { base, email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });

  step = 'the office home';
  await S.officeHome(page);
  await S.atBothWidths(page, 'office home', artifacts, 'home');
  await S.checkLanguages(page, { where: 'office home', heading: 'School office', headingFr: 'Secrétariat', artifacts, name: 'home' });

  step = 'the accounts';
  await S.accountsPage(page, { base, expect: [teacher, student] });
  await S.filterByRole(page, { role: 'student', label: 'student', present: [student], absent: [teacher] });
  await S.verifyAccount(page, { name: student });
  await S.revokeSessions(page, { name: teacher, expectCount: Number(env('TEACHER_SESSIONS')) });

  step = 'create an account';
  const created = await S.createAccount(page, { role: 'teacher', name: env('NEW_NAME'), email: env('NEW_EMAIL'), employeeId: 'E-42' });
  console.log(`created: ${created}`);
  await S.atBothWidths(page, 'accounts', artifacts, 'accounts');
  await S.checkLanguages(page, { where: 'accounts', heading: 'Accounts', headingFr: 'Comptes', artifacts, name: 'accounts' });

  step = 'the roster page';
  await S.rosterPage(page, { base });
  await S.atBothWidths(page, 'roster', artifacts, 'roster');
  await S.checkLanguages(page, { where: 'roster', heading: 'Import a roster', headingFr: 'Importer une liste', artifacts, name: 'roster' });

  step = 'search the accounts';
  await S.accountsPage(page, { base, expect: [teacher, student] });
  await S.searchAccounts(page, { q: env('STUDENT_EMAIL').split('@')[0], expect: [student], absent: [teacher] });

  step = 'invite a teacher';
  const invited = { name: 'Ines Invited', email: 'ines.invited@school.test' };
  await S.inviteTeacher(page, invited);
  await S.atBothWidths(page, 'accounts with an invitation', artifacts, 'accounts-invited');
  const link = await S.invitationLinkFor(page, { base, email: invited.email });

  step = 'change a role';
  await S.changeRole(page, { name: env('NEW_NAME'), role: 'admin', label: 'administrator' });
  await S.changeRole(page, { name: env('NEW_NAME'), role: 'teacher', label: 'teacher' });

  step = 'delete an account, after its preview';
  await S.deleteAccount(page, { name: env('NEW_NAME'), expect: { 'Login sessions': 0 } });

  step = 'import a roster';
  await S.importRoster(page, {
    base,
    artifacts,
    badCsv: 'name,email,role\nAda Lovelace,ada@school.test,student\nNo Mail,,student\nBad Role,bad@school.test,wizard\n',
    goodCsv: 'name,email,role\nAda Lovelace,ada@school.test,student\nAlan Turing,alan@school.test,student\n',
    expectErrors: 2,
    expect: { create: 2, update: 0, unchanged: 0 },
  });
  await S.checkLanguages(page, { where: 'roster report', heading: 'Import a roster', headingFr: 'Importer une liste' });

  step = 'the invited teacher accepts';
  const guest = await context.browser().newContext({ viewport: { width: 390, height: 844 }, locale: 'en-GB' });
  const invitee = await guest.newPage();
  invitee.on('pageerror', (e) => problems.push(`page error (invitee): ${e.message}`));
  invitee.setDefaultTimeout(30000);
  await S.acceptInvitation(invitee, { link, ...invited, password: 'a-good-password-1' });
  await S.noSideways(invitee, 'the invited teacher\'s start page');
  await guest.close();

  step = 'an invitation link that does not work';
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await S.badInvitation(page, { base });
  await S.atBothWidths(page, 'broken invitation link', artifacts, 'invitation-bad');
  await S.checkLanguages(page, {
    where: 'broken invitation link', heading: 'This invitation link does not work', headingFr: 'Ce lien d\u2019invitation ne fonctionne pas',
  });

  S.check(problems.length === 0, `no console errors or CSP violations${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  console.log('office pages passed');
  await browser.close();
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  await page.screenshot({ path: join(artifacts, 'office-failure.png'), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
