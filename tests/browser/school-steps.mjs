// Browser steps for the pages of web/school.js (the office's outbox, audit log and subjects, the
// teacher's timetable, a student's own face photos), for runners such as school-pages.mjs. Each
// step drives the page with the keyboard-reachable controls a person uses (locators by role and
// label) and asserts what it shows with `check`, which throws naming the failed expectation.
import { join } from 'node:path';

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
}

const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/// The page's title, matched from its start (a loose match also finds the page being left).
export const title = (page, text) => page.getByRole('heading', { level: 1, name: new RegExp(`^${escapeRe(text)}`) });
const noticeText = (page) => page.locator('#notice');
/// Choose the option of a <select> whose text starts with `prefix` ("History" for "History (HIS1)").
async function selectStartingWith(select, prefix) {
  const labels = await select.locator('option').allTextContents();
  const label = labels.find((l) => l.startsWith(`${prefix} `));
  if (!label) throw new Error(`check failed: an option "${prefix} …" among ${labels.join(' | ')}`);
  await select.selectOption({ label });
}

export async function logIn(page, base, { email, password, lands }) {
  await page.goto(`${base}/app/#/login`);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await title(page, lands).waitFor();
}

export async function logOut(page) {
  await page.locator('#nav').getByRole('button').last().click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
}

/// Go to a page by its address, as a link from another page (the office home) would.
export async function open(page, hash, heading) {
  // The page being left may have the same title (the audit log, filtered, then not): mark its
  // title, and wait for one drawn after the move.
  await page.evaluate((h) => {
    if (location.hash === h) return;
    for (const e of document.querySelectorAll('h1')) e.setAttribute('data-stale', '');
    location.hash = h;
  }, hash);
  await page.locator('h1:not([data-stale])').filter({ hasText: new RegExp(`^${escapeRe(heading)}`) }).waitFor();
}

export async function noSideways(page, where) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(scroll <= width, `${where}: no sideways scrolling at ${width}px (content ${scroll}px)`);
}

/// Pick a language in the header's switcher; the page is drawn again in it.
export async function switchLanguage(page, lang) {
  await page.locator('#nav').getByRole('combobox').selectOption(lang);
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
  await page.locator('main h1').waitFor();
}

/// The current page in English and in French: no missing words, no sideways scrolling at
/// 1024 px and at 390 px, a screenshot of each; back in English at 1024 px afterwards.
export async function inEveryLanguage(page, { where, shot, artifacts }) {
  for (const lang of ['en', 'fr']) {
    await switchLanguage(page, lang);
    const missing = await page.evaluate(() => [...I18N.missing]);
    check(missing.length === 0, `${where} (${lang}): every word is translated${missing.length ? `; missing ${missing.join(', ')}` : ''}`);
    for (const width of [1024, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 768 });
      await noSideways(page, `${where} (${lang})`);
      await page.screenshot({ path: join(artifacts, `school-${shot}-${lang}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1024, height: 768 });
  }
  await switchLanguage(page, 'en');
}

// ---------------------------------------------------------------------------------------------
// The mail outbox

/// The outbox's count of messages in `state` (queued, retrying, sent, dead), from its tab.
export async function mailCount(page, state) {
  return Number(await page.locator(`#count-${state}`).textContent());
}

/// Open the outbox on the tab of `tab` (its English name), find the message to `recipient`,
/// open it and check its state; returns to nothing (stays on the message).
export async function checkMailState(page, { recipient, tab, state, lastError }) {
  await open(page, '#/office/outbox', 'Mail outbox');
  await page.getByRole('navigation', { name: 'Messages by state' }).getByRole('link', { name: new RegExp(`^${tab} `) }).click();
  // The newest message to them (the list is newest first).
  const card = page.locator('.message', { hasText: `To ${recipient}` }).first();
  await card.waitFor();
  check(await card.locator('.badge').first().textContent() === state, `the message to ${recipient} is listed as ${state}`);
  await card.getByRole('link').click();
  await page.locator('.facts').waitFor();
  const facts = await page.locator('.facts').innerText();
  check(facts.includes(recipient) && facts.includes(state), `its page shows the recipient and the state ${state}`);
  if (lastError) check(facts.includes('Last error'), 'and why it failed');
  check((await page.locator('.mail-body').innerText()).trim().length > 0, 'and the message itself');
}

/// On a failed message's page: retry it.
export async function retryThisMessage(page, { recipient }) {
  await page.getByRole('button', { name: 'Retry', exact: true }).click();
  await noticeText(page).getByText(`The message to ${recipient} is queued again.`).waitFor();
  check(true, `the message to ${recipient} is queued again`);
}

export async function retryAllFailed(page, { count }) {
  await open(page, '#/office/outbox?state=dead', 'Mail outbox');
  check(await mailCount(page, 'dead') === count, `${count} failed message${count === 1 ? '' : 's'} counted`);
  await page.getByRole('button', { name: 'Retry all failed messages' }).click();
  await noticeText(page).getByText(new RegExp(`^${count} failed messages? (is|are) queued again`)).waitFor();
  check(true, 'retrying all failed messages queues them again');
}

/// Refresh the outbox until `count` messages are sent (the relay delivers in the background).
export async function waitForSent(page, { count, seconds = 30 }) {
  await open(page, '#/office/outbox?state=sent', 'Mail outbox');
  const end = Date.now() + seconds * 1000;
  while (await mailCount(page, 'sent') < count) {
    if (Date.now() > end) throw new Error(`check failed: ${count} messages sent within ${seconds}s`);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await title(page, 'Mail outbox').waitFor();
  }
  // The last Refresh may still be drawing: wait for the list rather than count it at once.
  await page.locator('.message').nth(count - 1).waitFor();
  check(await mailCount(page, 'sent') >= count, `${count} messages are sent and listed`);
}

// ---------------------------------------------------------------------------------------------
// The audit log

/// Press "Show" on the filled-in form; once the address matches `url`, the rows of the table
/// drawn for it. The table on screen stays until the hash change is handled (after the address
/// has changed): it is marked and never read.
async function showAuditRows(page, url) {
  await page.evaluate(() => document.querySelector('#audit')?.setAttribute('data-stale', ''));
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(url);
  const rows = page.locator('#audit:not([data-stale]) tbody tr');
  await rows.first().waitFor();
  return rows;
}

/// Filter the audit log by action (and optionally check who did it).
export async function findInAudit(page, { action, who }) {
  await open(page, '#/office/audit', 'Audit log');
  await page.getByLabel('Action').fill(action);
  const rows = await showAuditRows(page, new RegExp(`action=${escapeRe(encodeURIComponent(action))}`));
  const texts = await rows.allInnerTexts();
  check(texts.every((r) => r.includes(action)), `the audit log shows only ${action} (${texts.length})`);
  if (who) check(texts.some((r) => r.includes(who)), `one by ${who}, shown by name`);
  // The browser's zone is not UTC (the runner sets one): the time shown is the local one.
  const [shown, local, utc] = await rows.first().locator('time').evaluate((el) => {
    const at = new Date(el.getAttribute('datetime'));
    const f = (timeZone) => new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(at);
    return [el.textContent, f(Intl.DateTimeFormat().resolvedOptions().timeZone), f('UTC')];
  });
  check(shown === local && local !== utc, `its time is shown in the local time zone (${shown}, ${utc} UTC)`);
  return texts;
}

/// The audit log between two moments, typed in the reader's time: a window that ends before it
/// starts is refused next to the form; a window around now shows `action`'s entries; one long
/// past shows none.
export async function auditWindow(page, { action }) {
  await open(page, '#/office/audit', 'Audit log');
  // A datetime-local value in the browser's time zone (not this script's).
  const local = (ms) => page.evaluate((at) => {
    const d = new Date(at);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }, ms);
  const now = Date.now();
  const typeWindow = async (since, until) => {
    await page.getByLabel(/^Since/).fill(since);
    await page.getByLabel(/^Before/).fill(until);
  };
  await typeWindow(await local(now), await local(now - 3600e3));
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByRole('alert').filter({ hasText: '“Before” must be later than “Since”.' }).waitFor();
  check(!/since=/.test(page.url()), 'a window that ends before it starts is refused next to the form');
  await page.getByLabel('Action').fill(action);
  await typeWindow(await local(now - 24 * 3600e3), await local(now + 3600e3));
  const texts = await (await showAuditRows(page, /until=/)).allInnerTexts();
  check(texts.length > 0 && texts.every((r) => r.includes(action)), `the last day shows ${action}'s entries (${texts.length})`);
  await typeWindow('2001-01-01T00:00', '2001-01-02T00:00');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/since=2001/);
  await page.getByText('No entry matches.').waitFor();
  check(await page.getByLabel(/^Before/).inputValue() === '2001-01-02T00:00', 'a day long past shows no entry, and the form keeps the window');
}

// ---------------------------------------------------------------------------------------------
// Subjects: co-teachers and moving students

export async function openOfficeSubject(page, { subject }) {
  await open(page, '#/office/subjects', 'Subjects');
  await page.locator('#subjects').getByRole('link', { name: subject }).click();
  await title(page, `${subject} `).waitFor();
}

export async function addCoTeacher(page, { subject, email, name }) {
  await openOfficeSubject(page, { subject });
  await page.getByLabel('The teacher’s e-mail').fill('nobody@school.test');
  await page.getByRole('button', { name: 'Add teacher' }).click();
  await page.getByText('Not added: No teacher account found').waitFor();
  check(true, 'an unknown e-mail is refused with the API\'s reason, next to the form');
  await page.getByLabel('The teacher’s e-mail').fill(email);
  await page.getByRole('button', { name: 'Add teacher' }).click();
  await noticeText(page).getByText(`${name} now teaches this subject.`).waitFor();
  check(await page.locator('#teachers').getByText(name).count() === 1, `${name} is listed among the teachers`);
  check(await page.getByRole('button', { name: `Remove ${name} from this subject` }).count() === 1, 'with a button to remove them');
}

export async function moveStudent(page, { subject, student, to }) {
  await openOfficeSubject(page, { subject });
  await page.getByLabel(`Select ${student}`).check();
  await selectStartingWith(page.getByLabel('Move to'), to);
  await page.getByRole('button', { name: 'Move selected students' }).click();
  await page.locator('#move-result').getByText(new RegExp(`^1 student moved to ${escapeRe(to)} `)).waitFor();
  check(await page.locator('#roster').getByText(student).count() === 0, `${student} left ${subject}`);
  await page.getByRole('main').getByRole('link', { name: '← Subjects' }).click();
  await title(page, 'Subjects').waitFor();
  const row = page.locator('#subjects tr', { hasText: to });
  check(/\b1$/.test((await row.innerText()).trim()), `${to} counts the moved student`);
}

// ---------------------------------------------------------------------------------------------
// The teacher's timetable

/// The teacher fills a period on `day`, a holiday and an exam day; a period ending before it
/// starts is refused with the server's reason next to the form, then fixed and saved.
export async function setTimetableAndHoliday(page, { day, start, end, subject, holiday, holidayName, exam, examName }) {
  await page.locator('#nav').getByRole('link', { name: 'Timetable' }).click();
  await title(page, 'My timetable').waitFor();
  await page.getByRole('button', { name: `Add a period on ${day}` }).click();
  const period = page.getByRole('group', { name: `Period 1 on ${day}` });
  await period.waitFor();
  check(await period.getByLabel('Start').evaluate((el) => el === document.activeElement), 'the new period\'s start takes the focus');
  await period.getByLabel('Start').fill(end);
  await period.getByLabel('End').fill(start);
  await selectStartingWith(period.getByLabel('Subject'), subject);
  await page.getByRole('button', { name: 'Add a holiday' }).click();
  const hol = page.getByRole('group', { name: 'Holiday 1' });
  await hol.getByLabel('From').fill(holiday);
  await hol.getByLabel('Name').fill(holidayName);
  await page.getByRole('button', { name: 'Add an exam day' }).click();
  const ex = page.getByRole('group', { name: 'Exam day 1' });
  await ex.getByLabel('Date').fill(exam);
  await ex.getByLabel('Name').fill(examName);
  await page.getByRole('button', { name: 'Save the timetable' }).click();
  const err = page.locator('#tt-error');
  await err.getByText('Not saved:').waitFor();
  check(/Invalid schedule/.test(await err.innerText()), `the server's 422 is shown next to the form (${await err.innerText()})`);
  await period.getByLabel('Start').fill(start);
  await period.getByLabel('End').fill(end);
  await page.getByRole('button', { name: 'Save the timetable' }).click();
  await noticeText(page).getByText('Timetable saved.').waitFor();
  check(await err.innerText() === '', 'the error is gone once saved');
  // What is saved is what the page shows next time.
  await page.reload();
  await title(page, 'My timetable').waitFor();
  const again = page.getByRole('group', { name: `Period 1 on ${day}` });
  check(await again.getByLabel('Start').inputValue() === start && await again.getByLabel('End').inputValue() === end,
    'the saved period is shown again');
  check(await page.getByRole('group', { name: 'Holiday 1' }).getByLabel('Name').inputValue() === holidayName, 'and the holiday');
}

// ---------------------------------------------------------------------------------------------
// A student's own face photos

export async function studentUploadsFace(page, { photo }) {
  await page.locator('#nav').getByRole('link', { name: 'My photos' }).click();
  await title(page, 'My face photos').waitFor();
  check(await page.locator('#consent-state .badge.good').count() === 1, 'the student sees their consent is recorded');
  await page.getByLabel('Photo of your face').setInputFiles(photo);
  await page.getByRole('button', { name: 'Upload photo' }).click();
  await page.locator('#upload-result').getByText(/^Photo added/).waitFor({ timeout: 120000 });
  await page.getByRole('heading', { name: '1 photo', exact: true }).waitFor();
  const img = page.locator('.thumbs img');
  await img.evaluate((el) => el.complete && el.naturalWidth ? null : new Promise((res) => { el.onload = res; }));
  check(await img.evaluate((el) => el.naturalWidth > 0), 'the uploaded photo is shown');
  check(await page.locator('.thumbs .badge').count() === 1, 'with whether it is in use');
}

export async function studentDeletesFace(page) {
  await page.getByRole('button', { name: 'Delete my face photo 1' }).click();
  await page.getByRole('heading', { name: '0 photos', exact: true }).waitFor();
  await noticeText(page).getByText('Face photo 1 deleted.').waitFor();
  check(await page.locator('.thumbs img').count() === 0, 'the photo is gone');
}

/// A student without consent: the page says so, the upload is refused with the API's words
/// and a link to the consent page.
export async function uploadRefusedWithoutConsent(page, { photo }) {
  await page.locator('#nav').getByRole('link', { name: 'My photos' }).click();
  await title(page, 'My face photos').waitFor();
  check(await page.locator('#consent-state .badge.warn').count() === 1, 'the page says no consent is recorded');
  await page.getByLabel('Photo of your face').setInputFiles(photo);
  await page.getByRole('button', { name: 'Upload photo' }).click();
  const result = page.locator('#upload-result [role=alert]');
  await result.waitFor();
  check(/Not uploaded: Biometric consent is required/.test(await result.innerText()), 'the refusal gives the API\'s reason');
  await result.getByRole('link', { name: /consent/ }).click();
  await title(page, 'Biometric consent').waitFor();
  check(true, 'and leads to the consent page');
}
