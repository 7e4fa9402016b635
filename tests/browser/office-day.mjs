// The school office's day on a fresh server, in a real browser (Debian's Chromium through
// playwright-core), run by the Rust test `browser::office_day_in_a_real_browser`, which set up
// an administrator, one teacher with three subjects and a real SMTP test server:
//   1. the office imports a 40-student CSV: the preview shows its 3 deliberate errors, the
//      corrected file imports, and importing it again changes nothing;
//   2. the office invites a teacher, reads the link from the mail in the outbox and makes the
//      new teacher a co-teacher of a subject;
//   3. the invited teacher sets a password from the link, then a timetable and a holiday;
//   4. the office checks the invitation mail's state and finds the import in the audit log;
//   5. a student of the import sets a password from their own invitation, records consent and
//      uploads a face photo.
// The steps are those of office-steps.mjs and school-steps.mjs. Screenshots:
// $ARTIFACTS/day-*.png (the README's pictures of the office pages come from here). Exits
// non-zero on the first failed step, naming it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsFolder, env, launch, watch } from './harness.mjs';
import * as O from './office-steps.mjs';
import * as S from './school-steps.mjs';

const base = env('ROLLCALL_URL');
const artifacts = artifactsFolder(/^day-/);

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'en-GB', timezoneId: 'Europe/Paris' });
const page = await context.newPage();
// Answers the steps cause on purpose: the password the policy refuses, the file with errors,
// the unknown co-teacher address, the timetable that ends before it starts.
const problems = watch(page, [/\/api\/auth\/accept-invitation$/, /\/api\/settings$/, /\/api\/admin\/roster\/preview$/, /\/api\/subjects\/[0-9a-f]+\/teachers$/]);
const shot = (name) => page.screenshot({ path: join(artifacts, `day-${name}.png`) });

const teacher = { name: env('INVITED_NAME'), email: env('INVITED_EMAIL') };
const student = { name: env('STUDENT_NAME'), email: env('STUDENT_EMAIL') };
let step = 'start';
try {
  step = 'the office logs in';
  await O.logIn(page, { base, email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  await O.officeHome(page);
  await shot('office');

  step = 'import the roster: the preview shows the 3 errors, the fixed file imports, again changes nothing';
  await O.importRoster(page, {
    base,
    badCsv: readFileSync(env('BAD_CSV'), 'utf8'),
    goodCsv: readFileSync(env('GOOD_CSV'), 'utf8'),
    expectErrors: 3,
    expect: { create: Number(env('ROSTER_CREATES')), update: 0, unchanged: 0 },
  });
  await shot('roster-again');

  step = 'invite a teacher';
  await O.accountsPage(page, { base });
  await O.searchAccounts(page, { q: 'amara', expect: [student.name] });
  await O.inviteTeacher(page, teacher);
  // (Not `absent`: with 40 students the list has pages, and Amara need not be on the first.)
  await O.searchAccounts(page, { q: teacher.email, expect: [teacher.name] });
  await shot('accounts');
  const teacherLink = await O.invitationLinkFor(page, { base, email: teacher.email });
  await S.addCoTeacher(page, { subject: env('SUBJECT_NAME'), email: teacher.email, name: teacher.name });
  await shot('subject');

  step = 'check the invitation mail\'s state';
  await S.waitForSent(page, { count: Number(env('MAILS_SENT')) });
  await S.checkMailState(page, { recipient: teacher.email, tab: 'sent', state: 'sent' });
  await shot('mail');

  step = 'find the import in the audit log';
  const rows = await S.findInAudit(page, { action: 'roster.import', who: env('ADMIN_NAME') });
  S.check(rows.length === 2, `both imports are in the audit log (${rows.length})`);
  await shot('audit');
  await S.logOut(page);

  step = 'the invited teacher sets a password from the mail';
  await O.acceptInvitation(page, { link: teacherLink, ...teacher, password: env('INVITED_PASSWORD') });

  step = 'the teacher sets a timetable and a holiday';
  await S.setTimetableAndHoliday(page, {
    day: 'Monday', start: '09:00', end: '09:50', subject: env('SUBJECT_NAME'),
    holiday: env('HOLIDAY'), holidayName: env('HOLIDAY_NAME'), exam: env('EXAM'), examName: env('EXAM_NAME'),
  });
  await shot('timetable');
  await S.logOut(page);

  step = 'a student of the import sets a password from their invitation';
  await O.logIn(page, { base, email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') });
  const studentLink = await O.invitationLinkFor(page, { base, email: student.email });
  await S.logOut(page);
  await O.acceptInvitation(page, { link: studentLink, ...student, password: env('STUDENT_PASSWORD'), role: 'student', home: 'My attendance' });

  step = 'the student records consent and uploads a face photo';
  await S.open(page, '#/consent', 'Biometric consent');
  await page.getByRole('button', { name: 'I agree: record my consent' }).click();
  await page.locator('.badge.good', { hasText: 'consent recorded' }).waitFor();
  S.check(true, 'the student recorded their consent');
  await S.studentUploadsFace(page, { photo: env('FACE_PHOTO') });
  await shot('my-photos');

  S.check(problems.length === 0, `no console errors, CSP violations or unexpected refusals${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  console.log('the office day passed');
  await browser.close();
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  await page.screenshot({ path: join(artifacts, 'day-failure.png'), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
