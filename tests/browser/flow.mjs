// The teacher's whole flow in a real browser (Debian's Chromium through playwright-core), on a
// server the Rust test `browser::teacher_flow_in_a_real_browser` spawned and filled:
// log in with the keyboard, enrol a student from photos, take attendance from a group photo,
// fix the unknown face with the keyboard, confirm, correct one record, export the CSV, read the
// analytics, read the overview, a subject and a session in French (the header's language
// switch) and back, approve a face photo a student uploaded of themselves, then the student's
// own view. On every page, no word is missing from the chosen language (`I18N.missing`).
// Screenshots go to $ARTIFACTS. Exits non-zero on the first failed step, naming it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifactsFolder, env, launch, watch } from './harness.mjs';

const base = env('ROLLCALL_URL');
const artifacts = artifactsFolder(/^\d\d[a-z]?-|^review-screen\.|^failure\./);

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

// The webcam is a file: a face photo as a one-frame MJPEG stream.
const browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  `--use-file-for-fake-video-capture=${env('CAMERA_FILE')}`]);
// A tablet in landscape.
const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, acceptDownloads: true, locale: 'en-GB' });
await context.grantPermissions(['camera'], { origin: base });
const page = await context.newPage();
const problems = watch(page);

let step = 'start';
// Page titles are matched from their start: a loose pattern also matches the page being left
// (the review's "Check the faces: Civics, …"), and the next step would then race the navigation.
const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const subjectPage = () => page.getByRole('heading', { level: 1, name: new RegExp(`^${escapeRe(env('SUBJECT_NAME'))} `) });
const sessionPage = () => page.getByRole('heading', { level: 1, name: new RegExp(`^${escapeRe(env('SUBJECT_NAME'))}: .*, period `) });
const shot = async (name) => {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
};
const noSideways = async (where) => {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(scroll <= width, `${where}: no sideways scrolling at ${width}px (content ${scroll}px)`);
};
// Every word the page asked for exists in the chosen language (web/i18n.js records the keys it lacked).
const noMissingWords = async (where) => {
  const missing = await page.evaluate(() => [...I18N.missing]);
  check(missing.length === 0, `${where}: every word is translated${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`);
};

try {
  step = 'log in with the keyboard';
  const r = await page.goto(`${base}/`);
  check(r && r.ok(), 'the server answers the browser');
  await page.waitForURL(/\/app\/#\/login$/);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await noMissingWords('log in');
  await page.keyboard.type(env('TEACHER_EMAIL'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(env('TEACHER_PASSWORD'));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'My subjects' }).waitFor();
  check(await page.getByText(env('SUBJECT_NAME')).count() > 0, 'the teacher sees the subject');
  await noSideways('subjects');
  await noMissingWords('subjects');
  await shot('01-subjects');

  step = 'open the subject';
  await page.getByRole('link', { name: env('SUBJECT_NAME') }).click();
  await subjectPage().waitFor();
  await noMissingWords('subject');
  const enrolName = env('ENROL_NAME');
  step = `enrol ${enrolName} from photos`;
  await page.getByRole('link', { name: `Enrol face of ${enrolName}` }).click();
  await page.getByRole('heading', { name: `Enrol ${enrolName}` }).waitFor();
  await page.getByRole('button', { name: /Record consent/ }).click();
  await page.locator('.badge.good', { hasText: 'consent recorded' }).waitFor();
  await page.getByLabel('Face photos').setInputFiles(env('ENROL_PHOTOS').split(','));
  await page.getByRole('button', { name: 'Upload and enrol' }).click();
  await page.getByText(/enrolled \(\d+ face photo/).first().waitFor();
  await page.getByText('1 of 1 photo enrolled.').waitFor();
  step = `enrol ${enrolName} from the webcam`;
  await page.getByRole('button', { name: 'Start camera' }).click();
  const shoot = page.getByRole('button', { name: 'Take photo and enrol' });
  await shoot.waitFor();
  await page.locator('video').evaluate((v) => (v.videoWidth > 0 ? null : new Promise((res) => { v.onloadeddata = res; })));
  check(await shoot.evaluate((el) => el === document.activeElement), 'the shutter button takes the focus');
  await page.keyboard.press('Enter');
  await page.getByText(/^camera-\d+\.jpg: enrolled \(2 face photos now\)/).waitFor();
  check(true, 'a webcam still is enrolled');
  await page.getByRole('heading', { name: 'Enrolled photos (2)' }).waitFor();
  step = 'delete a face photo';
  await page.getByRole('button', { name: `Delete face photo 2 of ${enrolName}` }).click();
  await page.getByRole('heading', { name: 'Enrolled photos (1)' }).waitFor();
  check(await page.locator('.thumbs img').count() === 1, 'one face photo is left');
  await noSideways('enrolment');
  await noMissingWords('enrolment');
  await shot('02-enrolled');

  step = 'take attendance from a group photo';
  await page.getByRole('link', { name: /Back to the subject/ }).click();
  await page.getByRole('link', { name: 'Take attendance' }).first().click();
  await noMissingWords('take attendance');
  await page.getByLabel('Class photo').setInputFiles(env('GROUP_PHOTO'));
  await page.getByRole('button', { name: 'Find faces' }).click();
  await page.getByRole('heading', { name: /Check the faces/ }).waitFor({ timeout: 120000 });
  await page.locator('.frame img').evaluate((img) => img.complete || new Promise((res) => { img.onload = res; }));
  const boxes = await page.locator('.frame .box').count();
  check(boxes === Number(env('GROUP_FACES')), `every face is boxed (${boxes})`);
  check(await page.locator('.frame .box.present').count() >= 1, 'the enrolled student is recognised');
  const unknown = page.locator('.faces .face-item.unknown');
  check(await unknown.count() >= 1, 'the face of the student without photos is unknown');
  const firstItem = await page.locator('.faces .face-item').first().getAttribute('class');
  check(!/present/.test(firstItem), 'faces to check come before recognised ones');
  await noSideways('review');
  await noMissingWords('review');
  await shot('03-review');

  step = 'fix the unknown face with the keyboard';
  const fixName = env('FIX_NAME');
  await unknown.first().focus();
  await page.keyboard.press('Enter');
  const pick = page.getByLabel('Who is this?');
  await pick.waitFor();
  check(await pick.evaluate((el) => el === document.activeElement), 'the picker takes the focus');
  await pick.selectOption({ label: fixName });
  await page.keyboard.press('Tab'); // the enrol checkbox
  await page.keyboard.press('Tab'); // Save this face
  check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'apply-face', 'Tab reaches "Save this face"');
  await page.keyboard.press('Enter');
  await page.locator('.frame .box.assigned').waitFor();
  check((await page.locator('.frame .box.assigned .tag').textContent()).trim() === fixName.split(' ')[0], `the face is now ${fixName}`);
  await shot('04-review-fixed');
  await noMissingWords('review with the picker');
  // The README's picture of the review screen: the photo with its boxes, one face chosen by hand.
  await page.locator('.review').screenshot({ path: join(artifacts, 'review-screen.jpg'), type: 'jpeg', quality: 80 });

  step = 'confirm';
  const confirm = page.getByRole('button', { name: /Confirm attendance \(2 present\)/ });
  await confirm.click();
  await sessionPage().waitFor();
  check(/2 present/.test(await page.locator('p.big').textContent()), 'the session shows 2 present');

  step = 'correct one record';
  await page.getByLabel(`Status of ${fixName}`).selectOption('late');
  await page.getByText(`${fixName}: late.`).waitFor();
  check(/1 present, 1 late/.test(await page.locator('p.big').textContent()), 'the correction updates the totals');
  await noSideways('session');
  await noMissingWords('session');
  await shot('05-session');

  step = 'export the CSV';
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export CSV' }).click(),
  ]);
  const csv = readFileSync(await download.path(), 'utf8');
  check(csv.startsWith('name,roll,') && csv.includes(fixName), `the CSV export has the session (${download.suggestedFilename()})`);

  step = 'see the analytics';
  await page.getByRole('link', { name: 'Analytics' }).last().click();
  await page.getByRole('heading', { name: /^Analytics:/ }).waitFor();
  await page.locator('svg.chart circle').first().waitFor();
  check(await page.locator('svg.chart circle').count() === 1, 'the trend has today');
  const atRisk = env('AT_RISK_NAME');
  await page.locator('#at-risk').getByText(atRisk).waitFor();
  check(true, `${atRisk} is listed below the threshold`);
  await noSideways('analytics');
  await noMissingWords('analytics');
  await shot('06-analytics');
  await page.getByRole('navigation').getByRole('link', { name: 'Analytics' }).click();
  await page.getByRole('heading', { name: 'Analytics', exact: true }).waitFor();
  check(await page.locator('svg.chart rect').count() >= 1, 'the overview draws a bar per subject');
  await noMissingWords('overview');
  await shot('07-overview');

  step = 'switch the page to French in the header, then back to English';
  await page.getByRole('navigation').getByLabel('Language').selectOption('fr');
  await page.getByRole('heading', { name: 'Statistiques', exact: true }).waitFor();
  check(await page.evaluate(() => document.documentElement.lang) === 'fr', 'the document is marked French');
  check(/^Présence globale/.test(await page.locator('p.big').textContent()), 'the overview reads in French');
  check(/^\d+,\d\s%$/.test(await page.locator('p.big strong').textContent()), 'a percentage is written the French way');
  check(await page.getByRole('heading', { name: 'Par matière' }).count() === 1
    && await page.getByRole('heading', { name: 'Classes en difficulté' }).count() === 1, 'its sections too');
  await noMissingWords('overview in French');
  await noSideways('overview in French');
  await page.getByRole('navigation').getByRole('link', { name: 'Matières' }).click();
  await page.getByRole('heading', { name: 'Mes matières' }).waitFor();
  await noMissingWords('subjects in French');
  await page.getByRole('link', { name: env('SUBJECT_NAME') }).click();
  await subjectPage().waitFor();
  await page.getByRole('heading', { name: 'Séances' }).waitFor();
  check(await page.getByRole('link', { name: 'Faire l’appel' }).count() === 1, 'the subject page reads in French');
  await noMissingWords('subject in French');
  await noSideways('subject in French');
  await shot('07a-french');
  await page.getByRole('link', { name: /créneau/ }).first().click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`^${escapeRe(env('SUBJECT_NAME'))}\\s: .*, créneau `) }).waitFor();
  check(/^présents\u00a0: 1, en retard\u00a0: 1/.test(await page.locator('p.big').textContent()), 'the session reads in French');
  await noMissingWords('session in French');
  await page.getByRole('navigation').getByLabel('Langue').selectOption('en');
  await sessionPage().waitFor();
  check(await page.evaluate(() => document.documentElement.lang) === 'en', 'back in English');
  await noMissingWords('session, back in English');

  const classPhoto = process.env.CLASS_PHOTO;
  if (classPhoto) {
    step = 'a real class photo, then discard it';
    await page.getByRole('navigation').getByRole('link', { name: 'Subjects' }).click();
    await page.getByRole('link', { name: 'Take attendance' }).first().click();
    await page.getByLabel('Class photo').setInputFiles(classPhoto);
    await page.getByRole('button', { name: 'Find faces' }).click();
    await page.getByRole('heading', { name: /Check the faces/ }).waitFor({ timeout: 180000 });
    const drawn = await page.locator('.frame .box').count();
    const least = Number(env('CLASS_PHOTO_FACES'));
    check(drawn >= least && drawn === await page.locator('.faces .face-item').count(),
      `every face of the class photo is boxed and listed (${drawn}, at least ${least})`);
    await noSideways('review of a class photo');
    await noMissingWords('review of a class photo');
    await shot('07b-class-photo');
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Discard' }).click();
    await subjectPage().waitFor();
    check(await page.getByText('Waiting for confirmation').count() === 0, 'the discarded photo is gone');
  } else {
    console.log('SKIPPED the real class photo: ../shared is not present');
  }

  const reviewName = env('REVIEW_NAME');
  step = `approve the face photo ${reviewName} uploaded of themselves`;
  await page.getByRole('navigation').getByRole('link', { name: 'Subjects' }).click();
  await page.getByRole('heading', { name: 'My subjects' }).waitFor();
  await page.getByRole('link', { name: env('SUBJECT_NAME') }).click();
  const review = page.getByRole('link', { name: `Review face photos of ${reviewName}` });
  await review.waitFor();
  check(await page.getByText('1 to approve').count() === 1, `the roster shows ${reviewName}'s photo waiting`);
  await review.click();
  await page.getByRole('heading', { name: `Enrol ${reviewName}` }).waitFor();
  await page.getByText('uploaded by the student: is this them?').waitFor();
  await page.getByRole('button', { name: `Approve face photo 1 of ${reviewName}` }).click();
  await page.getByText(`Face photo 1 of ${reviewName} approved.`).waitFor();
  check(await page.getByText('uploaded by the student').count() === 0, 'the approved photo is no longer marked');
  await noSideways('review of a student\'s own photo');
  await noMissingWords('review of a student\'s own photo');
  await shot('07c-approved');

  step = "the student's consent page, through the link a refused face upload gives";
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.goto(`${base}/app/#consent`);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.getByLabel('E-mail').fill(env('STUDENT_EMAIL'));
  await page.getByLabel('Password').fill(env('STUDENT_PASSWORD'));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Biometric consent' }).waitFor();
  check(/face/.test(await page.locator('#notice-text').textContent()), 'the school\'s notice is shown');
  check(await page.locator('.badge.good', { hasText: 'consent recorded' }).count() === 1, 'with the consent already recorded');
  check(await page.getByRole('button', { name: 'Withdraw my consent' }).count() === 1, 'which the student may withdraw');
  await noSideways('consent page');
  await noMissingWords('consent page');
  await shot('08a-consent');

  step = "the student's own view";
  await page.getByRole('link', { name: 'Back to my attendance' }).click();
  await page.getByRole('heading', { name: 'My attendance' }).waitFor();
  check(/0\.0%/.test(await page.locator('p.big').textContent()), 'the absent student sees 0%');
  check(await page.getByText('below threshold').count() === 1, 'and that they are below the threshold');

  step = 'a tablet in portrait';
  await page.setViewportSize({ width: 768, height: 1024 });
  await noSideways('student view, portrait');
  await noMissingWords('student view');
  await shot('08-student');

  check(problems.length === 0, `no console errors or CSP violations${problems.length ? `: ${problems.join(' | ')}` : ''}`);
  console.log('browser flow passed');
  await browser.close();
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  await shot('failure').catch(() => {});
  await browser.close();
  process.exit(1);
}
