// rollcall's web page: a small client of the JSON API (see /docs). Hash routes, no framework,
// no build step; every element is a real link, button or form control so the page works with
// the keyboard alone, and the layout folds to one column on a tablet.
'use strict';

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') Object.assign(el.style, v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const kid of kids.flat(Infinity)) if (kid) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

const main = () => document.getElementById('main');

/// Replace the page's content; focus its heading so screen readers and keyboard users start there.
function render(...kids) {
  const m = main();
  m.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  const h1 = m.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
}

let noticeTimer = 0;
let noticeAt = 0;
function clearNotice() {
  const n = document.getElementById('notice');
  n.textContent = '';
  n.className = '';
}
function notice(text, kind) {
  noticeAt = Date.now();
  const n = document.getElementById('notice');
  n.className = kind === 'error' ? 'error' : 'ok';
  n.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  n.textContent = text;
  clearTimeout(noticeTimer);
  if (kind !== 'error') noticeTimer = setTimeout(clearNotice, 6000);
}

const pct = (x) => (x === null || x === undefined ? '–' : `${Number(x).toFixed(1)}%`);
/// `YYYY-MM-DD` of the local day `n` days ago.
const daysAgo = (n) => {
  const d = new Date(Date.now() - n * 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
const today = () => daysAgo(0);

// ---------------------------------------------------------------------------------------------
// Session and API

const KEY = 'rollcall.session';
const NEXT = 'rollcall.next';
function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
}
function saveSession(v) {
  if (v) sessionStorage.setItem(KEY, JSON.stringify(v)); else sessionStorage.removeItem(KEY);
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

/// Thrown by `api` when the page moved on while a call was in flight: its answer belongs to a
/// page that is gone, so nothing may draw it or navigate from it (see `navigate`).
class Stale extends Error {
  constructor() { super('the page has changed'); }
}

async function refresh() {
  const me = session();
  if (!me || !me.refresh_token) return false;
  const r = await fetch('/api/auth/refresh', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: me.refresh_token }),
  });
  if (!r.ok) return false;
  const g = await r.json();
  saveSession({ ...me, token: g.access_token, refresh_token: g.refresh_token });
  return true;
}

/// Call the API: JSON in and out (a FormData body goes as multipart); `raw` returns the Response.
async function api(method, path, body, opts = {}) {
  const page = navigations;
  const send = () => {
    const headers = {};
    const me = session();
    if (me) headers.Authorization = `Bearer ${me.token}`;
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
    return fetch(path, { method, headers, body: payload });
  };
  let r = await send();
  if (r.status === 401 && session() && await refresh()) r = await send();
  if (page !== navigations) throw new Stale();
  if (r.status === 401 && session()) {
    saveSession(null);
    location.hash = '#/login';
    throw new ApiError(401, 'Your session has ended; please log in again.');
  }
  if (!r.ok) {
    let detail = `${r.status} ${r.statusText}`;
    try { const j = await r.json(); if (j && j.detail) detail = typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail); } catch { /* not JSON */ }
    throw new ApiError(r.status, detail);
  }
  if (opts.raw) return r;
  return r.status === 204 ? null : r.json();
}

/// An image the API serves behind the token, as a blob: URL for an <img>.
async function imageUrl(path) {
  const r = await api('GET', path, undefined, { raw: true });
  return URL.createObjectURL(await r.blob());
}

/// A CSV export: fetched with the token and handed to the browser as a download.
async function download(path, fallbackName) {
  try {
    const r = await api('GET', path, undefined, { raw: true });
    const cd = r.headers.get('Content-Disposition') || '';
    const m = /filename="?([^";]+)"?/.exec(cd);
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: m ? m[1] : fallbackName });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    notice('Export downloaded.');
  } catch (e) { fail(e); }
}

function fail(e) {
  if (e instanceof Stale) return;
  notice(e instanceof Error ? e.message : String(e), 'error');
}

/// A button that runs `fn`, disabled (and marked busy) while it runs.
function action(label, fn, props = {}) {
  const b = h('button', { type: 'button', ...props }, label);
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
    try { await fn(b); } catch (e) { fail(e); } finally {
      b.disabled = false;
      b.removeAttribute('aria-busy');
    }
  });
  return b;
}

// ---------------------------------------------------------------------------------------------
// Router

const routes = [];
/// `opts.public`: the page is for people who are not logged in (an invitation link).
function route(pattern, view, opts = {}) { routes.push([new RegExp(`^${pattern}$`), view, opts]); }

let leaving = [];
/// Counts navigations. An API answer that arrives after the next navigation began is dropped
/// (`Stale`), so a slow page can neither overwrite the page that replaced it nor move away from it.
let navigations = 0;
function onLeave(fn) { leaving.push(fn); }

async function navigate() {
  navigations += 1;
  document.documentElement.lang = currentLang();
  for (const fn of leaving.splice(0)) { try { fn(); } catch { /* ignore */ } }
  // A notice belongs to the page it was given on, unless it announces the move to this one.
  if (Date.now() - noticeAt > 1500) clearNotice();
  // `#consent` (the link in a refused face upload's message) is `#/consent`.
  const path = location.hash.replace(/^#\/?/, '/');
  const me = session();
  drawNav(me);
  const isPublic = routes.some(([re, , opts]) => opts.public && re.test(path));
  if (!me && path !== '/login' && !isPublic) {
    // Back to the page asked for once logged in.
    sessionStorage.setItem(NEXT, path);
    location.hash = '#/login';
    return;
  }
  for (const [re, view] of routes) {
    const m = re.exec(path);
    if (m) {
      render(h('p', { class: 'muted' }, 'Loading…'));
      try { await view(...m.slice(1).map(decodeURIComponent)); } catch (e) {
        if (e instanceof Stale) return;
        render(h('h1', {}, 'Something went wrong'), h('p', { class: 'error-text' }, e.message || String(e)),
          h('p', {}, h('a', { href: '#/' }, 'Back to the start')));
      }
      return;
    }
  }
  render(h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the start')));
}

/// Links of the main navigation beyond the built-in ones: `addNavLink(['admin'], '#/office', 'nav.office')`
/// from a page script adds a link for those roles, in the order added.
const extraNav = [];
function addNavLink(roles, href, key) { extraNav.push({ roles, href, key }); }

function drawNav(me) {
  const nav = document.getElementById('nav');
  const langs = Object.keys(I18N.names);
  const switcher = langs.length > 1 ? h('label', { class: 'lang' }, h('span', { class: 'sr-only' }, t('lang.label')),
    h('select', {
      'aria-label': t('lang.label'),
      onchange: (ev) => { setLang(ev.target.value); navigate(); },
    }, langs.map((l) => h('option', { value: l, selected: l === currentLang() }, I18N.names[l])))) : null;
  if (!me) { nav.replaceChildren(...(switcher ? [switcher] : [])); return; }
  const links = me.role === 'student'
    ? [h('a', { href: '#/' }, t('nav.mine'))]
    : [h('a', { href: '#/' }, t('nav.subjects')), h('a', { href: '#/analytics' }, t('nav.analytics'))];
  for (const x of extraNav) if (x.roles.includes(me.role)) links.push(h('a', { href: x.href }, t(x.key)));
  nav.replaceChildren(...links,
    h('span', { class: 'who' }, t('nav.who', { name: me.name, role: t(`role.${me.role}`) })),
    switcher,
    action(t('nav.logout'), async () => {
      try { await api('POST', '/api/auth/logout', {}); } catch { /* ending anyway */ }
      saveSession(null);
      noticeAt = 0;
      location.hash = '#/login';
    }, { class: 'link' }));
}

// ---------------------------------------------------------------------------------------------
// Log in

route('/login', async () => {
  const email = h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error-text', role: 'alert' });
  const form = h('form', { class: 'card narrow' },
    h('h1', {}, 'Log in'),
    h('label', { for: 'email' }, 'E-mail'), email,
    h('label', { for: 'password' }, 'Password'), password,
    err,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const r = await fetch('/api/auth/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: email.value.trim(), password: password.value }),
      });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) { err.textContent = j.detail || `Log in failed (${r.status})`; password.select(); return; }
      saveSession({ token: j.access_token, refresh_token: j.refresh_token, role: j.role, name: j.name, user_id: j.user_id });
      const next = sessionStorage.getItem(NEXT);
      sessionStorage.removeItem(NEXT);
      location.hash = next && next !== '/login' ? `#${next}` : '#/';
    } catch (e) { err.textContent = e.message; }
  });
  render(form);
  email.focus();
});

// ---------------------------------------------------------------------------------------------
// Home: a teacher's subjects, a student's own attendance

route('/', async () => {
  const me = session();
  if (me.role === 'student') return studentHome();
  const subjects = await api('GET', '/api/subjects');
  const list = subjects.length
    ? h('ul', { class: 'cards' }, subjects.map((x) => h('li', { class: 'card' },
      h('h2', {}, h('a', { href: `#/subject/${x.id}` }, `${x.name}`)),
      h('p', { class: 'muted' }, `${x.code} · ${x.student_count} students`),
      h('p', { class: 'row' },
        h('a', { class: 'button primary', href: `#/subject/${x.id}/take` }, 'Take attendance'),
        h('a', { class: 'button', href: `#/subject/${x.id}/analytics` }, 'Analytics')))))
    : h('p', {}, 'You have no subjects yet.');
  const name = h('input', { id: 'sname', required: true, maxlength: 200 });
  const code = h('input', { id: 'scode', required: true, maxlength: 40 });
  const form = h('form', { class: 'card inline-form' },
    h('h2', {}, 'New subject'),
    h('label', { for: 'sname' }, 'Name'), name,
    h('label', { for: 'scode' }, 'Code'), code,
    h('button', { type: 'submit' }, 'Create subject'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const x = await api('POST', '/api/subjects', { name: name.value.trim(), code: code.value.trim() });
      location.hash = `#/subject/${x.id}`;
    } catch (e) { fail(e); }
  });
  render(h('h1', {}, 'My subjects'), list, form);
});

async function studentHome() {
  const me = session();
  const [a, st] = await Promise.all([api('GET', '/api/analytics/me'), api('GET', `/api/students/${me.user_id}`)]);
  const consent = st.consent_at
    ? h('p', { class: 'muted' }, `Face recognition: consent recorded on ${st.consent_at.slice(0, 10)}. `,
      h('a', { href: '#/consent' }, 'Consent and face data'))
    : h('p', { class: 'card warn-card' }, 'Face recognition needs your consent before your face photo can be used. ',
      h('a', { href: '#/consent' }, 'Read the notice and decide'));
  const rows = a.subjects.map((x) => h('tr', { class: x.atRisk ? 'risk' : '' },
    h('th', { scope: 'row' }, `${x.subjectName} (${x.subjectCode})`),
    h('td', {}, x.present), h('td', {}, x.late), h('td', {}, x.excused), h('td', {}, x.absent),
    h('td', {}, pct(x.attendancePercentage), x.atRisk ? h('span', { class: 'badge bad' }, 'below threshold') : null)));
  render(h('h1', {}, 'My attendance'),
    consent,
    h('p', { class: 'big' }, 'Overall: ', h('strong', {}, pct(a.overallPercentage)),
      h('span', { class: 'muted' }, ` (the school's threshold is ${a.threshold}%)`)),
    barChart(a.subjects.map((x) => ({ label: x.subjectCode, value: x.attendancePercentage, bad: x.atRisk })), a.threshold,
      'My attendance per subject'),
    h('table', {}, h('caption', {}, 'Per subject'),
      h('thead', {}, h('tr', {}, ['Subject', 'Present', 'Late', 'Excused', 'Absent', 'Attendance'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

// ---------------------------------------------------------------------------------------------
// A student's own biometric consent (`#consent`: the link a refused face upload names)

route('/consent', async () => {
  const me = session();
  if (me.role !== 'student') {
    render(h('h1', {}, 'Biometric consent'),
      h('p', {}, 'Staff record a student\'s consent on the student\'s page: open the subject, then "Enrol face of …".'),
      h('p', {}, h('a', { href: '#/' }, 'Back to the start')));
    return;
  }
  const [n, st] = await Promise.all([api('GET', '/api/students/consent-notice'), api('GET', `/api/students/${me.user_id}`)]);
  const state = st.consent_at
    ? h('p', {}, h('span', { class: 'badge good' }, 'consent recorded'), ` on ${st.consent_at.slice(0, 10)}.`)
    : h('p', {}, h('span', { class: 'badge warn' }, 'no consent recorded'),
      ' Your face photo cannot be used to recognise you until consent is recorded.');
  const give = n.student_self_consent
    ? action('I agree: record my consent', async () => {
      await api('POST', `/api/students/${me.user_id}/consent`);
      notice('Consent recorded. You can now upload your face photo.');
      await navigate();
    }, { class: 'primary' })
    : h('span', { id: 'office' }, 'Your school records consent itself: the school office records your parent\'s or guardian\'s signed consent form. Ask the school office.');
  const withdraw = action('Withdraw my consent', async () => {
    if (!window.confirm('Withdraw your consent? Every face photo of you is deleted.')) return;
    const r = await api('DELETE', `/api/students/${me.user_id}/consent`);
    notice(`Consent withdrawn; ${r.deleted_samples} face photo${r.deleted_samples === 1 ? '' : 's'} deleted.`);
    await navigate();
  });
  render(h('h1', {}, 'Biometric consent'),
    h('section', { class: 'card' }, h('h2', {}, 'The school\'s notice'),
      h('blockquote', { id: 'notice-text' }, n.notice),
      h('p', { class: 'muted small' }, `Notice fingerprint (SHA-256): ${n.notice_sha256.slice(0, 16)}…`)),
    state,
    h('p', { class: 'row' }, st.consent_at ? withdraw : give),
    h('p', {}, h('a', { href: '#/' }, 'Back to my attendance')));
});

// ---------------------------------------------------------------------------------------------
// A subject: roster, drafts, sessions, exports

route('/subject/([0-9a-f]{24})', async (id) => {
  const [subject, roster, drafts, sessions] = await Promise.all([
    api('GET', `/api/subjects/${id}`),
    api('GET', `/api/subjects/${id}/students`),
    api('GET', `/api/attendance/subjects/${id}/drafts`),
    api('GET', `/api/attendance/subjects/${id}/sessions`),
  ]);
  const rosterTable = h('table', {},
    h('caption', {}, `Students (${roster.length})`),
    h('thead', {}, h('tr', {}, ['Name', 'Roll', 'Face photos', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, roster.map((st) => h('tr', {},
      h('th', { scope: 'row' }, st.name, st.verified ? null : h('span', { class: 'badge' }, 'not approved')),
      h('td', {}, st.roll || '–'),
      h('td', {}, st.face_samples ? String(st.face_samples) : h('span', { class: 'badge warn' }, 'none'),
        st.face_samples_pending ? h('span', { class: 'badge warn' }, `${st.face_samples_pending} to approve`) : null),
      h('td', {}, h('a', { class: 'button', href: `#/subject/${id}/enrol/${st.student_id}` },
        st.face_samples_pending ? `Review face photos of ${st.name}` : `Enrol face of ${st.name}`))))));
  const draftList = drafts.length
    ? h('ul', { class: 'plain' }, drafts.map((d) => h('li', {},
      h('a', { href: `#/draft/${d.draft_id}` }, `Unconfirmed: ${d.date}, period ${d.slot} (${d.photos} photo${d.photos === 1 ? '' : 's'})`))))
    : null;
  const sessionList = sessions.length
    ? h('ul', { class: 'plain' }, sessions.slice(0, 20).map((x) => h('li', {},
      h('a', { href: `#/session/${x.session_id}` }, x.imported ? `${x.date}, imported day summary` : `${x.date}, period ${x.slot}`),
      ` — ${x.summary.present + x.summary.late} of ${x.summary.total} present (${pct(x.summary.percentage)})`)))
    : h('p', { class: 'muted' }, 'No attendance recorded yet.');
  render(
    h('h1', {}, `${subject.name} `, h('span', { class: 'muted' }, subject.code)),
    h('p', { class: 'row' },
      h('a', { class: 'button primary', href: `#/subject/${id}/take` }, 'Take attendance'),
      h('a', { class: 'button', href: `#/subject/${id}/analytics` }, 'Analytics'),
      action('Export CSV', () => download(`/api/attendance/subjects/${id}/export.csv`, `attendance-${subject.code}.csv`))),
    draftList ? h('section', { class: 'card' }, h('h2', {}, 'Waiting for confirmation'), draftList) : null,
    h('section', { class: 'card' }, h('h2', {}, 'Sessions'), sessionList),
    h('section', { class: 'card' }, rosterTable, addStudentForm(id)));
});

function addStudentForm(subjectId) {
  const name = h('input', { id: 'nname', required: true, maxlength: 200 });
  const email = h('input', { id: 'nemail', type: 'email', required: true });
  const roll = h('input', { id: 'nroll', maxlength: 40 });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form' },
    h('h2', {}, 'Add a student'),
    h('label', { for: 'nname' }, 'Name'), name,
    h('label', { for: 'nemail' }, 'E-mail'), email,
    h('label', { for: 'nroll' }, 'Roll number'), roll,
    h('button', { type: 'submit' }, 'Add student'), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const st = await api('POST', '/api/students', {
        name: name.value.trim(), email: email.value.trim(), roll: roll.value.trim() || null, subject_ids: [subjectId],
      });
      notice(`${st.name} added. Their first password is ${st.password} (shown once).`);
      await navigate();
    } catch (e) { fail(e); }
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// Enrol a student's face: uploaded photos or the webcam

route('/subject/([0-9a-f]{24})/enrol/([0-9a-f]{24})', async (subjectId, studentId) => {
  const st = await api('GET', `/api/students/${studentId}`);
  // The enrolled face photos, each with a Delete button; drawn again after every change.
  const gallery = h('section', { class: 'card', 'aria-live': 'polite' });
  let urls = [];
  onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  const drawGallery = async () => {
    const samples = await api('GET', `/api/students/${studentId}/faces`);
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = [];
    gallery.hidden = samples.length === 0;
    gallery.replaceChildren(h('h2', {}, `Enrolled photos (${samples.length})`),
      h('ul', { class: 'thumbs' }, samples.map((x, i) => {
        const img = h('img', { alt: `Face photo ${i + 1} of ${st.name}, ${x.created_at.slice(0, 10)}` });
        imageUrl(x.image_url).then((u) => { urls.push(u); img.src = u; }).catch(() => {});
        // A photo the student uploaded of themselves is used only once a teacher approves it.
        const review = x.approved ? null : [
          h('span', { class: 'badge warn' }, 'uploaded by the student: is this them?'),
          action('Approve', async () => {
            await api('POST', `/api/students/${studentId}/faces/${x.id}/approve`);
            // Redrawn first, so the announcement comes when the page already shows it.
            await drawGallery();
            notice(`Face photo ${i + 1} of ${st.name} approved.`);
          }, { 'aria-label': `Approve face photo ${i + 1} of ${st.name}`, class: 'small' })];
        // Where the photo came from, when not an enrolment upload.
        const from = { teacher: 'from a class photo', learned: 'learned from a confirmed class photo',
          import: 'imported' }[x.source];
        return h('li', {}, img, from ? h('span', { class: 'badge' }, from) : null, review, action('Delete', async () => {
          await api('DELETE', `/api/students/${studentId}/faces/${x.id}`);
          await drawGallery();
          notice(`Face photo ${i + 1} of ${st.name} deleted.`);
        }, { 'aria-label': `Delete face photo ${i + 1} of ${st.name}`, class: 'small' }));
      })));
  };
  await drawGallery();
  const consent = st.consent_at
    ? h('p', { class: 'row' }, h('span', { class: 'badge good' }, 'consent recorded'), ` on ${st.consent_at.slice(0, 10)}`,
      action('Withdraw consent', async () => {
        if (!window.confirm(`Withdraw ${st.name}'s consent? Every face photo of ${st.name} is deleted.`)) return;
        const r = await api('DELETE', `/api/students/${studentId}/consent`);
        notice(`Consent withdrawn; ${r.deleted_samples} face photo${r.deleted_samples === 1 ? '' : 's'} deleted.`);
        await navigate();
      }, { class: 'small' }))
    : h('div', { class: 'card warn-card' },
      h('p', {}, `Face recognition needs ${st.name}'s consent (or their guardian's signed form).`),
      action('Record consent (signed form received)', async () => {
        await api('POST', `/api/students/${studentId}/consent`);
        notice('Consent recorded.');
        await navigate();
      }));
  const results = h('ul', { class: 'plain', 'aria-live': 'polite' });
  const upload = async (blob, name) => {
    const form = new FormData();
    form.append('file', blob, name);
    form.append('student_id', studentId);
    try {
      const r = await api('POST', '/api/students/upload-face', form);
      results.append(h('li', { class: 'good-text' }, `${name}: enrolled (${r.faces_total} face photo${r.faces_total === 1 ? '' : 's'} now).`));
      await drawGallery();
      return true;
    } catch (e) {
      results.append(h('li', { class: 'error-text' }, `${name}: ${e.message}`));
      return false;
    }
  };
  const files = h('input', { id: 'faces', type: 'file', accept: 'image/jpeg,image/png,image/webp', multiple: true });
  const uploadForm = h('form', { class: 'card' },
    h('h2', {}, 'From photos'),
    h('p', { class: 'muted' }, 'One face per photo, looking at the camera, at least 80 pixels wide.'),
    h('label', { for: 'faces' }, 'Face photos'), files,
    h('button', { type: 'submit', class: 'primary' }, 'Upload and enrol'));
  uploadForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!files.files.length) { notice('Choose at least one photo.', 'error'); return; }
    let ok = 0;
    for (const f of files.files) if (await upload(f, f.name)) ok += 1;
    notice(`${ok} of ${files.files.length} photo${files.files.length === 1 ? '' : 's'} enrolled.`, ok ? 'ok' : 'error');
    files.value = '';
  });
  render(
    h('p', {}, h('a', { href: `#/subject/${subjectId}` }, '← Back to the subject')),
    h('h1', {}, `Enrol ${st.name}`),
    consent,
    h('div', { class: 'two' }, uploadForm, webcamCard((blob) => upload(blob, `camera-${Date.now()}.jpg`))),
    results,
    gallery);
});

/// The laptop's camera: preview, then take a still as a JPEG.
function webcamCard(onShot) {
  const video = h('video', { autoplay: true, playsinline: true, muted: true, 'aria-label': 'Camera preview' });
  let stream = null;
  const stop = () => { if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; } };
  onLeave(stop);
  const shoot = action('Take photo and enrol', async () => {
    if (!stream) { notice('Start the camera first.', 'error'); return; }
    const c = h('canvas', {});
    c.width = video.videoWidth; c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((res) => c.toBlob(res, 'image/jpeg', 0.92));
    if (blob) await onShot(blob);
  });
  shoot.hidden = true;
  const start = action('Start camera', async (b) => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      notice('This browser gives no camera here (the camera needs https or localhost).', 'error');
      return;
    }
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: false });
    video.srcObject = stream;
    b.hidden = true;
    shoot.hidden = false;
    shoot.focus();
  });
  return h('div', { class: 'card' }, h('h2', {}, 'From the camera'), video, h('p', { class: 'row' }, start, shoot));
}

// ---------------------------------------------------------------------------------------------
// Take attendance: a photo becomes a draft

route('/subject/([0-9a-f]{24})/take', async (id) => {
  const [subject, drafts] = await Promise.all([
    api('GET', `/api/subjects/${id}`),
    api('GET', `/api/attendance/subjects/${id}/drafts`),
  ]);
  const file = h('input', { id: 'photo', type: 'file', accept: 'image/jpeg,image/png,image/webp', required: true });
  const date = h('input', { id: 'date', type: 'date', value: '' });
  const slot = h('input', { id: 'slot', type: 'number', min: 0, max: 23, inputmode: 'numeric' });
  const form = h('form', { class: 'card' },
    h('label', { for: 'photo' }, 'Class photo'), file,
    h('details', {}, h('summary', {}, 'Another day or period'),
      h('label', { for: 'date' }, 'Date (empty: today)'), date,
      h('label', { for: 'slot' }, 'Period (empty: the timetable\u2019s current period)'), slot),
    h('button', { type: 'submit', class: 'primary' }, 'Find faces'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) { notice('Choose a photo first.', 'error'); return; }
    const body = new FormData();
    body.append('file', f, f.name);
    body.append('subject_id', id);
    body.append('save', 'true');
    if (date.value) body.append('date', date.value);
    if (slot.value !== '') body.append('slot', slot.value);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    button.textContent = 'Finding faces…';
    try {
      const r = await api('POST', '/api/attendance/mark', body);
      location.hash = `#/draft/${r.draft.draft_id}`;
    } catch (e) {
      fail(e);
      button.disabled = false;
      button.textContent = 'Find faces';
    }
  });
  render(
    h('p', {}, h('a', { href: `#/subject/${id}` }, `← ${subject.name}`)),
    h('h1', {}, `Take attendance: ${subject.name}`),
    h('p', { class: 'muted' }, 'Photograph the class; every face is matched against the students of this subject. Nothing is recorded until you confirm.'),
    form,
    drafts.length ? h('section', { class: 'card' }, h('h2', {}, 'Unconfirmed photos'),
      h('ul', { class: 'plain' }, drafts.map((d) => h('li', {}, h('a', { href: `#/draft/${d.draft_id}` }, `${d.date}, period ${d.slot}`))))) : null);
  file.focus();
});

// ---------------------------------------------------------------------------------------------
// Review a draft: every face boxed and coloured by status, uncertain ones first

const STATUS_TEXT = { present: 'recognised', uncertain: 'uncertain', unknown: 'unknown', assigned: 'chosen by you' };
const faceKey = (f) => `${f.photo}:${f.face}`;
const faceStatus = (f) => (f.assigned_by_teacher ? 'assigned' : f.status);
const reviewRank = (f) => (f.assigned_by_teacher ? 3 : f.status === 'uncertain' || f.needs_review ? 0 : f.status === 'unknown' ? 1 : 2);

route('/draft/([0-9a-f]{24})', async (draftId) => {
  let draft = await api('GET', `/api/attendance/drafts/${draftId}`);
  const [subject, roster] = await Promise.all([
    api('GET', `/api/subjects/${draft.subject_id}`),
    api('GET', `/api/subjects/${draft.subject_id}/students`),
  ]);
  const photoUrls = {};
  for (const p of draft.photos) {
    photoUrls[p.photo] = await imageUrl(`/api/attendance/drafts/${draftId}/photos/${p.photo}`);
    onLeave(() => URL.revokeObjectURL(photoUrls[p.photo]));
  }
  const eligible = roster.filter((st) => st.verified);
  const manual = {}; // student id -> status chosen by hand for students without a face
  let selected = null;

  const pickerFor = (f) => {
    const sel = h('select', { id: 'pick', 'aria-describedby': 'pick-help' },
      h('option', { value: '' }, '— not one of my students —'),
      f.candidates.length ? h('optgroup', { label: 'Nearest matches' }, f.candidates.map((c) => h('option', { value: c.student_id }, `${c.name} (distance ${c.distance.toFixed(2)})`))) : null,
      h('optgroup', { label: 'All students' }, eligible.map((st) => h('option', { value: st.student_id }, `${st.name}${st.roll ? ` (${st.roll})` : ''}`))));
    sel.value = f.student ? f.student.id : '';
    const enrol = h('input', { id: 'enrol', type: 'checkbox' });
    const apply = action('Save this face', async () => {
      const r = await api('PUT', `/api/attendance/drafts/${draftId}/faces/${f.photo}/${f.face}`,
        { student_id: sel.value || null, enrol: enrol.checked && !!sel.value });
      draft = r.draft;
      notice(sel.value ? `Face ${f.face + 1} is now ${sel.selectedOptions[0].textContent.replace(/ \(.*$/, '')}.` : `Face ${f.face + 1} is not one of your students.`);
      draw(faceKey(f));
    }, { class: 'primary', id: 'apply-face' });
    return h('div', { class: 'picker card', role: 'group', 'aria-labelledby': 'pick-title' },
      h('h3', { id: 'pick-title' }, `Face ${f.face + 1}${draft.photos.length > 1 ? ` in photo ${f.photo}` : ''}`),
      h('p', { id: 'pick-help', class: 'muted' }, f.student
        ? `Matched to ${f.student.name} (${STATUS_TEXT[faceStatus(f)]}${f.distance !== null ? `, distance ${f.distance.toFixed(2)}` : ''}).`
        : 'No student matched this face.'),
      h('label', { for: 'pick' }, 'Who is this?'), sel,
      h('label', { class: 'check' }, enrol, ' Also keep this face as an enrolment photo of that student'),
      h('p', { class: 'row' }, apply, h('button', { type: 'button', onclick: () => { selected = null; draw(); } }, 'Close')));
  };

  const view = h('div', {});
  const draw = (focusKey) => {
    const faces = [...draft.faces].sort((a, b) => reviewRank(a) - reviewRank(b) || a.photo - b.photo || a.face - b.face);
    const byKey = Object.fromEntries(draft.faces.map((f) => [faceKey(f), f]));
    if (selected && !byKey[selected]) selected = null;
    const select = (f) => { selected = faceKey(f); draw(faceKey(f)); const p = document.getElementById('pick'); if (p) p.focus(); };
    const label = (f) => `Face ${f.face + 1}: ${STATUS_TEXT[faceStatus(f)]}${f.student ? `, ${f.student.name}` : ''}`;
    const photos = draft.photos.map((p) => h('figure', { class: 'photo' },
      h('div', { class: 'frame' },
        h('img', { src: photoUrls[p.photo], alt: `Class photo ${p.photo}`, width: p.width, height: p.height }),
        draft.faces.filter((f) => f.photo === p.photo).map((f) => h('button', {
          type: 'button',
          class: `box ${faceStatus(f)}${selected === faceKey(f) ? ' selected' : ''}`,
          'data-face': faceKey(f),
          'aria-label': label(f),
          title: label(f),
          style: {
            left: `${(100 * Math.max(0, f.box.left)) / p.width}%`,
            top: `${(100 * Math.max(0, f.box.top)) / p.height}%`,
            width: `${(100 * (Math.min(p.width, f.box.right) - Math.max(0, f.box.left))) / p.width}%`,
            height: `${(100 * (Math.min(p.height, f.box.bottom) - Math.max(0, f.box.top))) / p.height}%`,
          },
          onclick: () => select(f),
        }, h('span', { class: 'tag' }, f.student ? f.student.name.split(' ')[0] : `#${f.face + 1}`)))),
      draft.photos.length > 1 ? h('figcaption', {}, `Photo ${p.photo}`) : null));
    const list = h('ol', { class: 'faces', 'aria-label': 'Faces, the ones to check first' }, faces.map((f) => h('li', {},
      h('button', { type: 'button', class: `face-item ${faceStatus(f)}`, 'data-face': faceKey(f), 'aria-pressed': String(selected === faceKey(f)), onclick: () => select(f) },
        h('span', { class: `dot ${faceStatus(f)}`, 'aria-hidden': 'true' }),
        h('span', {}, f.student ? f.student.name : `Face #${f.face + 1}${draft.photos.length > 1 ? ` (photo ${f.photo})` : ''}`),
        h('span', { class: 'muted' }, ` ${STATUS_TEXT[faceStatus(f)]}${f.needs_review && f.status === 'present' ? ', check' : ''}`)))));
    const present = new Set(draft.faces.filter((f) => f.student && (f.status === 'present' || f.assigned_by_teacher)).map((f) => f.student.id));
    const others = draft.not_seen.concat(draft.faces.filter((f) => f.student && !present.has(f.student.id) && f.status === 'uncertain').map((f) => f.student))
      .filter((st, i, all) => all.findIndex((x) => x.id === st.id) === i && !present.has(st.id));
    const manualRows = others.map((st) => {
      const sel = h('select', { id: `m-${st.id}`, onchange: (ev) => { manual[st.id] = ev.target.value; } },
        ['absent', 'present', 'late', 'excused'].map((v) => h('option', { value: v }, v)));
      sel.value = manual[st.id] || 'absent';
      return h('li', { class: 'manual' }, h('label', { for: `m-${st.id}` }, st.name), sel);
    });
    const confirm = action(`Confirm attendance (${present.size} present)`, async () => {
      const decisions = Object.entries(manual).filter(([, v]) => v !== 'absent').map(([student_id, status]) => ({ student_id, status }));
      const r = await api('POST', '/api/attendance/confirm', { draft_id: draftId, decisions });
      notice(`Attendance recorded: ${r.summary.present + r.summary.late} of ${r.summary.total} present.`);
      location.hash = `#/session/${r.session_id}`;
    }, { class: 'primary big-button', id: 'confirm' });
    const toReview = draft.faces.filter((f) => !f.assigned_by_teacher && (f.status === 'uncertain' || f.needs_review)).length;
    const unknownFaces = draft.faces.filter((f) => !f.assigned_by_teacher && f.status === 'unknown').length;
    view.replaceChildren(
      h('div', { class: 'review' },
        h('div', { class: 'photos' }, photos,
          h('p', { class: 'legend' },
            ['present', 'uncertain', 'unknown', 'assigned'].map((k) => h('span', {}, h('span', { class: `dot ${k}`, 'aria-hidden': 'true' }), ` ${STATUS_TEXT[k]}`)))),
        h('aside', { class: 'side' },
          h('p', { class: 'big', id: 'tally' }, `${draft.faces.length} face${draft.faces.length === 1 ? '' : 's'} · ${present.size} present`,
            toReview ? [' · ', h('strong', {}, `${toReview} uncertain`)] : null,
            unknownFaces ? ` · ${unknownFaces} unknown` : null),
          selected ? pickerFor(byKey[selected]) : null,
          h('h2', {}, 'Faces'), list,
          manualRows.length ? h('section', {}, h('h2', {}, 'Not recognised in the photo'), h('ul', { class: 'plain' }, manualRows)) : null,
          confirm,
          h('p', { class: 'row' },
            h('a', { class: 'button', href: `#/subject/${draft.subject_id}/take` }, 'Add another photo'),
            action('Discard', async () => {
              if (!window.confirm('Discard these photos without recording attendance?')) return;
              await api('DELETE', `/api/attendance/drafts/${draftId}`);
              location.hash = `#/subject/${draft.subject_id}`;
            })))));
    if (focusKey && !selected) {
      const el = view.querySelector(`.faces [data-face="${focusKey}"]`);
      if (el) el.focus();
    }
  };
  draw();
  render(
    h('p', {}, h('a', { href: `#/subject/${draft.subject_id}` }, `← ${subject.name}`)),
    h('h1', {}, `Check the faces: ${subject.name}, ${draft.date}, period ${draft.slot}`),
    view);
});

// ---------------------------------------------------------------------------------------------
// A confirmed session: its result and corrections

route('/session/([0-9a-f]{24})', async (id) => {
  const x = await api('GET', `/api/attendance/sessions/${id}`);
  const summary = h('p', { class: 'big', 'aria-live': 'polite' });
  const showSummary = (sm) => {
    summary.textContent = `${sm.present} present, ${sm.late} late, ${sm.excused} excused, ${sm.absent} absent — ${pct(sm.percentage)}`;
  };
  showSummary(x.summary);
  if (x.imported) {
    render(
      h('p', {}, h('a', { href: `#/subject/${x.subject_id}` }, `← ${x.subject_name}`)),
      h('h1', {}, `${x.subject_name}: ${x.date}`),
      summary,
      h('p', {}, 'A day summary imported from Smart Attendance: it counts toward the analytics, but the old system kept no per-student records, so there is nothing to correct.'));
    return;
  }
  const rows = x.records.map((r) => {
    const sel = h('select', { id: `s-${r.student_id}`, 'aria-label': `Status of ${r.name}` },
      ['present', 'late', 'excused', 'absent'].map((v) => h('option', { value: v }, v)));
    sel.value = r.status || 'absent';
    const source = h('td', { class: 'muted' }, r.source || 'not recorded');
    sel.addEventListener('change', async () => {
      sel.disabled = true;
      try {
        const c = await api('PUT', `/api/attendance/sessions/${id}/records/${r.student_id}`, { status: sel.value });
        showSummary(c.summary);
        source.textContent = 'correction';
        notice(`${r.name}: ${sel.value}.`);
      } catch (e) { fail(e); sel.value = r.status || 'absent'; } finally { sel.disabled = false; }
    });
    return h('tr', {}, h('th', { scope: 'row' }, r.name), h('td', {}, r.roll || '–'), h('td', {}, sel), source);
  });
  render(
    h('p', {}, h('a', { href: `#/subject/${x.subject_id}` }, `← ${x.subject_name}`)),
    h('h1', {}, `${x.subject_name}: ${x.date}, period ${x.slot}`),
    summary,
    h('p', { class: 'row' },
      action('Export CSV', () => download(`/api/attendance/sessions/${id}/export.csv`, `attendance-${x.subject_code}-${x.date}.csv`)),
      h('a', { class: 'button', href: `#/subject/${x.subject_id}/analytics` }, 'Analytics')),
    h('table', {}, h('caption', {}, 'Change a status to correct it; corrections are kept in the audit log.'),
      h('thead', {}, h('tr', {}, ['Student', 'Roll', 'Status', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
});

// ---------------------------------------------------------------------------------------------
// Analytics: a subject's trend and students at risk; the teacher's overview

route('/subject/([0-9a-f]{24})/analytics', async (id) => {
  const subject = await api('GET', `/api/subjects/${id}`);
  const from = h('input', { id: 'from', type: 'date', value: daysAgo(90) });
  const to = h('input', { id: 'to', type: 'date', value: today() });
  const out = h('div', { 'aria-live': 'polite' });
  const load = async () => {
    const [trend, risk] = await Promise.all([
      api('GET', `/api/analytics/attendance-trend?classId=${id}&dateFrom=${from.value}&dateTo=${to.value}`),
      api('GET', `/api/analytics/subjects/${id}/students-at-risk`),
    ]);
    out.replaceChildren(
      h('section', { class: 'card' }, h('h2', {}, 'Attendance per day'),
        trend.data.length ? lineChart(trend.data, risk.threshold) : h('p', { class: 'muted' }, 'No sessions in these dates.'),
        trend.data.length ? h('details', {}, h('summary', {}, 'As a table'), h('table', {},
          h('thead', {}, h('tr', {}, ['Date', 'Sessions', 'Present', 'Late', 'Excused', 'Absent', 'Attendance'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, trend.data.map((d) => h('tr', {}, h('th', { scope: 'row' }, d.date), [d.sessions, d.present, d.late, d.excused, d.absent].map((v) => h('td', {}, v)), h('td', {}, pct(d.percentage))))))) : null),
      h('section', { class: 'card' }, h('h2', {}, `Students below ${risk.threshold}%`),
        risk.data.length
          ? h('table', { id: 'at-risk' },
            h('thead', {}, h('tr', {}, ['Student', 'Roll', 'Attended', 'Attendance'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, risk.data.map((r) => h('tr', { class: 'risk' }, h('th', { scope: 'row' }, r.name), h('td', {}, r.roll || '–'),
              h('td', {}, `${r.present + r.late} of ${r.total - r.excused}`), h('td', {}, pct(r.attendancePercentage))))))
          : h('p', {}, 'No student is below the threshold.')));
  };
  const form = h('form', { class: 'row inline-form' },
    h('label', { for: 'from' }, 'From'), from, h('label', { for: 'to' }, 'To'), to,
    h('button', { type: 'submit' }, 'Show'),
    action('Export CSV', () => download(`/api/attendance/subjects/${id}/export.csv?from=${from.value}&to=${to.value}`, `attendance-${subject.code}.csv`)));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load().catch(fail); });
  render(
    h('p', {}, h('a', { href: `#/subject/${id}` }, `← ${subject.name}`)),
    h('h1', {}, `Analytics: ${subject.name}`), form, out);
  await load();
});

route('/analytics', async () => {
  const [g, risk] = await Promise.all([api('GET', '/api/analytics/global'), api('GET', '/api/analytics/class-risk')]);
  render(
    h('h1', {}, 'Analytics'),
    h('p', { class: 'big' }, 'Overall attendance: ', h('strong', {}, pct(g.overall_attendance)),
      ` · ${g.risk_count} subject${g.risk_count === 1 ? '' : 's'} below ${g.threshold}%`),
    h('section', { class: 'card' }, h('h2', {}, 'Per subject'),
      barChart(g.top_subjects.map((x) => ({ label: x.subjectCode, value: x.attendancePercentage, bad: x.atRisk })), g.threshold, 'Attendance per subject'),
      h('ul', { class: 'plain' }, g.top_subjects.map((x) => h('li', {}, h('a', { href: `#/subject/${x.subjectId}/analytics` }, `${x.subjectName} (${x.subjectCode})`), `: ${pct(x.attendancePercentage)}`)))),
    h('section', { class: 'card' }, h('h2', {}, 'Classes at risk'),
      risk.data.length
        ? h('table', { id: 'class-risk' },
          h('thead', {}, h('tr', {}, ['Subject', 'Attendance', 'Days recorded', 'Last recorded'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, risk.data.map((r) => h('tr', { class: 'risk' }, h('th', { scope: 'row' }, h('a', { href: `#/subject/${r.classId}/analytics` }, r.className)),
            h('td', {}, pct(r.attendancePercentage)), h('td', {}, r.daysRecorded), h('td', {}, r.lastRecorded || '–')))))
        : h('p', {}, 'No class is below the threshold.')));
});

// ---------------------------------------------------------------------------------------------
// Charts: plain SVG, with a text alternative

function lineChart(points, threshold) {
  const W = 640, H = 240, L = 40, R = 12, T = 12, B = 36;
  const n = points.length;
  const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + ((100 - v) * (H - T - B)) / 100;
  const valued = points.map((p, i) => [i, p.percentage]).filter(([, v]) => v !== null);
  const grid = [0, 25, 50, 75, 100].map((v) => [
    s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
    s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, `${v}%`)]);
  const every = Math.max(1, Math.ceil(n / 6));
  const labels = points.map((p, i) => (i % every === 0 || i === n - 1
    ? s('text', { x: x(i), y: H - 12, 'text-anchor': 'middle', class: 'axis' }, p.date.slice(5)) : null));
  const last = valued.length ? valued[valued.length - 1][1] : null;
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `Attendance per day over ${n} day${n === 1 ? '' : 's'}${last !== null ? `, last ${last.toFixed(1)}%` : ''}; threshold ${threshold}%` },
  grid,
  s('line', { x1: L, x2: W - R, y1: y(threshold), y2: y(threshold), class: 'threshold' }),
  valued.length > 1 ? s('polyline', { points: valued.map(([i, v]) => `${x(i)},${y(v)}`).join(' '), class: 'trend' }) : null,
  valued.map(([i, v]) => s('circle', { cx: x(i), cy: y(v), r: 4, class: v < threshold ? 'pt bad' : 'pt' },
    s('title', {}, `${points[i].date}: ${v.toFixed(1)}%`))),
  labels);
}

function barChart(items, threshold, title) {
  if (!items.length) return h('p', { class: 'muted' }, 'Nothing recorded yet.');
  const W = 640, row = 28, L = 110, R = 56;
  const H = items.length * row + 8;
  const x = (v) => L + (v * (W - L - R)) / 100;
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `${title}: ${items.map((it) => `${it.label} ${it.value === null ? 'no data' : `${it.value.toFixed(1)}%`}`).join(', ')}` },
  items.map((it, i) => [
    s('text', { x: L - 8, y: i * row + 19, 'text-anchor': 'end', class: 'axis' }, it.label),
    s('rect', { x: L, y: i * row + 6, width: Math.max(0, x(it.value || 0) - L), height: row - 10, class: it.bad ? 'bar bad' : 'bar' }),
    s('text', { x: x(it.value || 0) + 6, y: i * row + 19, class: 'axis' }, it.value === null ? 'no data' : `${it.value.toFixed(1)}%`)]),
  s('line', { x1: x(threshold), x2: x(threshold), y1: 0, y2: H, class: 'threshold' }));
}

window.addEventListener('hashchange', navigate);
document.addEventListener('DOMContentLoaded', navigate);
