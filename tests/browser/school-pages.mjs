// The pages of web/school.js in a real browser (Debian's Chromium through playwright-core), on a
// server the Rust test `browser::school_pages_in_a_real_browser` spawned and filled: the
// administrator reads the outbox and a failed message, retries it and the other failed one,
// finds actions in the audit log, adds a co-teacher and moves a student; a teacher sets a
// timetable, a holiday and an exam day; a student with consent uploads a face photo, sees it and
// deletes it; a student without consent is sent to the consent page. Every page is checked in
// English and French (no missing words) at 1024 px and 390 px (no sideways scrolling).
// Screenshots: $ARTIFACTS/school-*.png. Exits non-zero on the first failed step, naming it.
import { join } from 'node:path';
import { artifactsFolder, env, launch, watch } from './harness.mjs';
import {
  check, logIn, logOut, open, title, inEveryLanguage, checkMailState, retryThisMessage, retryAllFailed,
  waitForSent, findInAudit, auditWindow, addCoTeacher, moveStudent, openOfficeSubject, setTimetableAndHoliday,
  studentUploadsFace, studentDeletesFace, uploadRefusedWithoutConsent,
} from './school-steps.mjs';

const base = env('ROLLCALL_URL');
const artifacts = artifactsFolder(/^school-/);

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'en-GB', timezoneId: 'Europe/Paris' });
const page = await context.newPage();
// Refusals the steps ask for on purpose; any other 4xx/5xx, console error or CSP report fails.
const problems = watch(page, [
  /^404 from POST .*\/api\/subjects\/[0-9a-f]{24}\/teachers$/,
  /^422 from PUT .*\/api\/settings$/,
  /^403 from POST .*\/api\/students\/upload-face$/,
]);

let step = 'start';
const every = (where, shot) => inEveryLanguage(page, { where, shot, artifacts });
try {
  step = 'the administrator logs in';
  await logIn(page, base, { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD'), lands: 'My subjects' });

  step = 'the outbox and a failed message';
  const [first, second] = env('DEAD_RECIPIENTS').split(',');
  await open(page, '#/office/outbox', 'Mail outbox');
  check(await page.locator('#count-dead').textContent() === '2', 'two failed messages are counted');
  check(await page.locator('.message').count() === 2, 'and listed (failed is the default tab)');
  await every('outbox', 'outbox');
  await checkMailState(page, { recipient: first, tab: 'failed', state: 'failed', lastError: true });
  await every('a message', 'message');
  step = 'retry one failed message, then all the others';
  await retryThisMessage(page, { recipient: first });
  await retryAllFailed(page, { count: 1 });
  await waitForSent(page, { count: 2 });
  await checkMailState(page, { recipient: second, tab: 'sent', state: 'sent' });

  step = 'the audit log';
  await findInAudit(page, { action: 'outbox.view', who: env('ADMIN_NAME') });
  await findInAudit(page, { action: 'outbox.' });
  await auditWindow(page, { action: 'outbox.' });
  await every('audit log', 'audit');

  step = 'a co-teacher';
  await addCoTeacher(page, { subject: env('SUBJECT_NAME'), email: env('COTEACHER_EMAIL'), name: env('COTEACHER_NAME') });
  step = 'move a student';
  await moveStudent(page, { subject: env('SUBJECT_NAME'), student: env('MOVE_STUDENT'), to: env('TARGET_SUBJECT_NAME') });
  await every('subjects', 'subjects');
  await openOfficeSubject(page, { subject: env('SUBJECT_NAME') });
  await every('a subject', 'subject');
  step = 'the co-teacher is in the audit log by name';
  await findInAudit(page, { action: 'subject.teacher_add', who: env('ADMIN_NAME') });
  await logOut(page);

  step = 'the teacher sets a timetable, a holiday and an exam day';
  await logIn(page, base, { email: env('TEACHER_EMAIL'), password: env('TEACHER_PASSWORD'), lands: 'My subjects' });
  await setTimetableAndHoliday(page, {
    day: 'Monday', start: '09:00', end: '09:50', subject: env('SUBJECT_NAME'),
    holiday: env('HOLIDAY'), holidayName: env('HOLIDAY_NAME'), exam: env('EXAM'), examName: env('EXAM_NAME'),
  });
  await every('timetable', 'timetable');
  await logOut(page);

  step = 'a student with consent uploads a face photo, sees it and deletes it';
  await logIn(page, base, { email: env('STUDENT_EMAIL'), password: env('STUDENT_PASSWORD'), lands: 'My attendance' });
  await studentUploadsFace(page, { photo: env('FACE_PHOTO') });
  await every('my photos', 'photos');
  await studentDeletesFace(page);
  await logOut(page);

  step = 'a student without consent is refused and sent to the consent page';
  await logIn(page, base, { email: env('NO_CONSENT_EMAIL'), password: env('NO_CONSENT_PASSWORD'), lands: 'My attendance' });
  await uploadRefusedWithoutConsent(page, { photo: env('FACE_PHOTO') });
  await open(page, '#/my-photos', 'My face photos');
  await every('my photos without consent', 'photos-no-consent');

  step = 'a page for another role says so';
  await open(page, '#/office/outbox', 'Mail outbox');
  check(await page.getByText('This page is for the school’s administrators.').count() === 1, 'a student is told the outbox is the administrators\'');
  await page.screenshot({ path: join(artifacts, 'school-not-yours.png') });

  check(problems.length === 0, `no console errors, CSP violations or unexpected refusals${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  console.log('school pages passed');
  await browser.close();
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  await page.screenshot({ path: join(artifacts, 'school-failure.png'), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
