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

const pct = fmtPct;
/// A translated sentence with elements inside: `fill(t('key', vars), { link: h('a', …) })` puts
/// each node where its `{name}` stands, so the translation decides the word order.
function fill(text, nodes) {
  return text.split(/(\{\w+\})/).map((part) => {
    const m = /^\{(\w+)\}$/.exec(part);
    return m && nodes[m[1]] !== undefined ? nodes[m[1]] : part;
  }).filter((part) => part !== '');
}
/// Column headings from their keys.
const heads = (keys) => h('thead', {}, h('tr', {}, keys.map((k) => h('th', { scope: 'col' }, k ? t(`common.col.${k}`) : ''))));
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

/// An API refusal: its status, its `detail` as the message, and its whole JSON body (`body`,
/// null when it had none), for answers that carry more than a message (a roster's report).
class ApiError extends Error {
  constructor(status, detail, body = null) { super(detail); this.status = status; this.body = body; }
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
    throw new ApiError(401, t('common.sessionEnded'));
  }
  if (!r.ok) {
    let detail = `${r.status} ${r.statusText}`;
    let j = null;
    try { j = await r.json(); if (j && j.detail) detail = typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail); } catch { /* not JSON */ }
    if (page !== navigations) throw new Stale();
    throw new ApiError(r.status, detail, j);
  }
  if (opts.raw) return r;
  // The body arrives after the headers: a page left while it was read must not be drawn over
  // the next one (the caller draws as soon as this returns).
  const out = r.status === 204 ? null : await r.json();
  if (page !== navigations) throw new Stale();
  return out;
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
    notice(t('common.exported'));
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
  translateShell();
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
      render(h('p', { class: 'muted' }, t('common.loading')));
      try { await view(...m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x)))); } catch (e) {
        if (e instanceof Stale) return;
        render(h('h1', {}, t('common.error')), h('p', { class: 'error-text' }, e.message || String(e)),
          h('p', {}, h('a', { href: '#/' }, t('common.backToStart'))));
      }
      return;
    }
  }
  render(h('h1', {}, t('common.notFound')), h('p', {}, h('a', { href: '#/' }, t('common.backToStart'))));
}

/// The words of index.html itself (English there, for a browser without scripts).
function translateShell() {
  const skip = document.querySelector('a.skip');
  if (skip) skip.textContent = t('nav.skip');
  document.getElementById('nav').setAttribute('aria-label', t('nav.main'));
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
    h('h1', {}, t('login.title')),
    h('label', { for: 'email' }, t('login.email')), email,
    h('label', { for: 'password' }, t('login.password')), password,
    err,
    h('button', { type: 'submit', class: 'primary' }, t('login.submit')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const r = await fetch('/api/auth/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: email.value.trim(), password: password.value }),
      });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) { err.textContent = j.detail || t('login.failed', { status: r.status }); password.select(); return; }
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
      h('p', { class: 'muted' }, tn('subjects.meta', x.student_count, { code: x.code })),
      h('p', { class: 'row' },
        h('a', { class: 'button primary', href: `#/subject/${x.id}/take` }, t('common.takeAttendance')),
        h('a', { class: 'button', href: `#/subject/${x.id}/analytics` }, t('common.analytics'))))))
    : h('p', {}, t('subjects.none'));
  const name = h('input', { id: 'sname', required: true, maxlength: 200 });
  const code = h('input', { id: 'scode', required: true, maxlength: 40 });
  const form = h('form', { class: 'card inline-form' },
    h('h2', {}, t('subjects.new')),
    h('label', { for: 'sname' }, t('subjects.name')), name,
    h('label', { for: 'scode' }, t('subjects.code')), code,
    h('button', { type: 'submit' }, t('subjects.create')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const x = await api('POST', '/api/subjects', { name: name.value.trim(), code: code.value.trim() });
      location.hash = `#/subject/${x.id}`;
    } catch (e) { fail(e); }
  });
  render(h('h1', {}, t('subjects.title')), list, form);
});

async function studentHome() {
  const me = session();
  const [a, st] = await Promise.all([api('GET', '/api/analytics/me'), api('GET', `/api/students/${me.user_id}`)]);
  const consent = st.consent_at
    ? h('p', { class: 'muted' }, fill(t('student.consentOn', { date: st.consent_at.slice(0, 10) }),
      { link: h('a', { href: '#/consent' }, t('student.consentLink')) }))
    : h('p', { class: 'card warn-card' }, fill(t('student.needsConsent'),
      { link: h('a', { href: '#/consent' }, t('student.decide')) }));
  const rows = a.subjects.map((x) => h('tr', { class: x.atRisk ? 'risk' : '' },
    h('th', { scope: 'row' }, `${x.subjectName} (${x.subjectCode})`),
    h('td', {}, x.present), h('td', {}, x.late), h('td', {}, x.excused), h('td', {}, x.absent),
    h('td', {}, pct(x.attendancePercentage), x.atRisk ? h('span', { class: 'badge bad' }, t('student.belowThreshold')) : null)));
  render(h('h1', {}, t('student.title')),
    consent,
    h('p', { class: 'big' }, fill(t('student.overall'), { pct: h('strong', {}, pct(a.overallPercentage)),
      threshold: h('span', { class: 'muted' }, t('student.threshold', { threshold: a.threshold })) })),
    barChart(a.subjects.map((x) => ({ label: x.subjectCode, value: x.attendancePercentage, bad: x.atRisk })), a.threshold,
      t('student.chartTitle')),
    h('table', {}, h('caption', {}, t('student.perSubject')),
      heads(['subject', 'present', 'late', 'excused', 'absent', 'attendance']),
      h('tbody', {}, rows)));
}

// ---------------------------------------------------------------------------------------------
// A student's own biometric consent (`#consent`: the link a refused face upload names)

route('/consent', async () => {
  const me = session();
  if (me.role !== 'student') {
    render(h('h1', {}, t('consent.title')),
      h('p', {}, t('consent.staff')),
      h('p', {}, h('a', { href: '#/' }, t('common.backToStart'))));
    return;
  }
  const [n, st] = await Promise.all([api('GET', '/api/students/consent-notice'), api('GET', `/api/students/${me.user_id}`)]);
  const state = st.consent_at
    ? h('p', {}, fill(t('consent.on', { date: st.consent_at.slice(0, 10) }),
      { badge: h('span', { class: 'badge good' }, t('common.consentRecorded')) }))
    : h('p', {}, fill(t('consent.noneText'), { badge: h('span', { class: 'badge warn' }, t('consent.none')) }));
  const give = n.student_self_consent
    ? action(t('consent.give'), async () => {
      await api('POST', `/api/students/${me.user_id}/consent`);
      notice(t('consent.given'));
      await navigate();
    }, { class: 'primary' })
    : h('span', { id: 'office' }, t('consent.byOffice'));
  const withdraw = action(t('consent.withdraw'), async () => {
    if (!window.confirm(t('consent.confirmWithdraw'))) return;
    const r = await api('DELETE', `/api/students/${me.user_id}/consent`);
    notice(tn('common.consentWithdrawn', r.deleted_samples));
    await navigate();
  });
  render(h('h1', {}, t('consent.title')),
    h('section', { class: 'card' }, h('h2', {}, t('consent.notice')),
      h('blockquote', { id: 'notice-text' }, n.notice),
      h('p', { class: 'muted small' }, t('consent.fingerprint', { hash: n.notice_sha256.slice(0, 16) }))),
    state,
    h('p', { class: 'row' }, st.consent_at ? withdraw : give),
    h('p', {}, h('a', { href: '#/' }, t('consent.back'))));
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
    h('caption', {}, t('subject.students', { n: roster.length })),
    heads(['name', 'roll', 'faces', '']),
    h('tbody', {}, roster.map((st) => h('tr', {},
      h('th', { scope: 'row' }, st.name, st.verified ? null : h('span', { class: 'badge' }, t('subject.notApproved'))),
      h('td', {}, st.roll || '–'),
      h('td', {}, st.face_samples ? String(st.face_samples) : h('span', { class: 'badge warn' }, t('subject.noFaces')),
        st.face_samples_pending ? h('span', { class: 'badge warn' }, tn('subject.toApprove', st.face_samples_pending)) : null),
      h('td', {}, h('a', { class: 'button', href: `#/subject/${id}/enrol/${st.student_id}` },
        t(st.face_samples_pending ? 'subject.review' : 'subject.enrol', { name: st.name })))))));
  const draftList = drafts.length
    ? h('ul', { class: 'plain' }, drafts.map((d) => h('li', {},
      h('a', { href: `#/draft/${d.draft_id}` }, tn('subject.draft', d.photos, { date: d.date, slot: d.slot })))))
    : null;
  const sessionList = sessions.length
    ? h('ul', { class: 'plain' }, sessions.slice(0, 20).map((x) => h('li', {},
      h('a', { href: `#/session/${x.session_id}` }, x.imported ? t('subject.imported', { date: x.date }) : t('common.datePeriod', { date: x.date, slot: x.slot })),
      tn('subject.sessionResult', x.summary.present + x.summary.late, { total: x.summary.total, pct: pct(x.summary.percentage) }))))
    : h('p', { class: 'muted' }, t('subject.noSessions'));
  render(
    h('h1', {}, `${subject.name} `, h('span', { class: 'muted' }, subject.code)),
    h('p', { class: 'row' },
      h('a', { class: 'button primary', href: `#/subject/${id}/take` }, t('common.takeAttendance')),
      h('a', { class: 'button', href: `#/subject/${id}/analytics` }, t('common.analytics')),
      action(t('common.exportCsv'), () => download(`/api/attendance/subjects/${id}/export.csv`, `attendance-${subject.code}.csv`))),
    draftList ? h('section', { class: 'card' }, h('h2', {}, t('subject.waiting')), draftList) : null,
    h('section', { class: 'card' }, h('h2', {}, t('subject.sessions')), sessionList),
    h('section', { class: 'card' }, rosterTable, addStudentForm(id)));
});

function addStudentForm(subjectId) {
  const name = h('input', { id: 'nname', required: true, maxlength: 200 });
  const email = h('input', { id: 'nemail', type: 'email', required: true });
  const roll = h('input', { id: 'nroll', maxlength: 40 });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form' },
    h('h2', {}, t('subject.add')),
    h('label', { for: 'nname' }, t('subject.addName')), name,
    h('label', { for: 'nemail' }, t('subject.addEmail')), email,
    h('label', { for: 'nroll' }, t('subject.addRoll')), roll,
    h('button', { type: 'submit' }, t('subject.addSubmit')), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const st = await api('POST', '/api/students', {
        name: name.value.trim(), email: email.value.trim(), roll: roll.value.trim() || null, subject_ids: [subjectId],
      });
      notice(t('subject.added', { name: st.name, password: st.password }));
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
    gallery.replaceChildren(h('h2', {}, t('enrol.gallery', { n: samples.length })),
      h('ul', { class: 'thumbs' }, samples.map((x, i) => {
        const img = h('img', { alt: t('enrol.photoAlt', { i: i + 1, name: st.name, date: x.created_at.slice(0, 10) }) });
        imageUrl(x.image_url).then((u) => { urls.push(u); img.src = u; }).catch(() => {});
        // A photo the student uploaded of themselves is used only once a teacher approves it.
        const review = x.approved ? null : [
          h('span', { class: 'badge warn' }, t('enrol.byStudent')),
          action(t('enrol.approve'), async () => {
            await api('POST', `/api/students/${studentId}/faces/${x.id}/approve`);
            // Redrawn first, so the announcement comes when the page already shows it.
            await drawGallery();
            notice(t('enrol.approved', { i: i + 1, name: st.name }));
          }, { 'aria-label': t('enrol.approveLabel', { i: i + 1, name: st.name }), class: 'small' })];
        // Where the photo came from, when not an enrolment upload.
        const from = ['teacher', 'learned', 'import'].includes(x.source) ? t(`enrol.source.${x.source}`) : null;
        return h('li', {}, img, from ? h('span', { class: 'badge' }, from) : null, review, action(t('enrol.delete'), async () => {
          await api('DELETE', `/api/students/${studentId}/faces/${x.id}`);
          await drawGallery();
          notice(t('enrol.deleted', { i: i + 1, name: st.name }));
        }, { 'aria-label': t('enrol.deleteLabel', { i: i + 1, name: st.name }), class: 'small' }));
      })));
  };
  await drawGallery();
  const consent = st.consent_at
    ? h('p', { class: 'row' }, fill(t('enrol.consentOn', { date: st.consent_at.slice(0, 10) }),
      { badge: h('span', { class: 'badge good' }, t('common.consentRecorded')) }),
      action(t('enrol.withdraw'), async () => {
        if (!window.confirm(t('enrol.confirmWithdraw', { name: st.name }))) return;
        const r = await api('DELETE', `/api/students/${studentId}/consent`);
        notice(tn('common.consentWithdrawn', r.deleted_samples));
        await navigate();
      }, { class: 'small' }))
    : h('div', { class: 'card warn-card' },
      h('p', {}, t('enrol.needsConsent', { name: st.name })),
      action(t('enrol.recordConsent'), async () => {
        await api('POST', `/api/students/${studentId}/consent`);
        notice(t('enrol.consentGiven'));
        await navigate();
      }));
  const results = h('ul', { class: 'plain', 'aria-live': 'polite' });
  const upload = async (blob, name) => {
    const form = new FormData();
    form.append('file', blob, name);
    form.append('student_id', studentId);
    try {
      const r = await api('POST', '/api/students/upload-face', form);
      results.append(h('li', { class: 'good-text' }, tn('enrol.uploaded', r.faces_total, { name })));
      await drawGallery();
      return true;
    } catch (e) {
      results.append(h('li', { class: 'error-text' }, t('enrol.uploadFailed', { name, error: e.message })));
      return false;
    }
  };
  const files = h('input', { id: 'faces', type: 'file', accept: 'image/jpeg,image/png,image/webp', multiple: true });
  const uploadForm = h('form', { class: 'card' },
    h('h2', {}, t('enrol.fromPhotos')),
    h('p', { class: 'muted' }, t('enrol.photosHelp')),
    h('label', { for: 'faces' }, t('enrol.photosLabel')), files,
    h('button', { type: 'submit', class: 'primary' }, t('enrol.upload')));
  uploadForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!files.files.length) { notice(t('enrol.chooseOne'), 'error'); return; }
    let ok = 0;
    for (const f of files.files) if (await upload(f, f.name)) ok += 1;
    notice(tn('enrol.done', files.files.length, { ok }), ok ? 'ok' : 'error');
    files.value = '';
  });
  render(
    h('p', {}, h('a', { href: `#/subject/${subjectId}` }, t('enrol.back'))),
    h('h1', {}, t('enrol.title', { name: st.name })),
    consent,
    h('div', { class: 'two' }, uploadForm, webcamCard((blob) => upload(blob, `camera-${Date.now()}.jpg`))),
    results,
    gallery);
});

/// The laptop's camera: preview, then take a still as a JPEG.
function webcamCard(onShot) {
  const video = h('video', { autoplay: true, playsinline: true, muted: true, 'aria-label': t('enrol.cameraPreview') });
  let stream = null;
  const stop = () => { if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; } };
  onLeave(stop);
  const shoot = action(t('enrol.shoot'), async () => {
    if (!stream) { notice(t('enrol.startFirst'), 'error'); return; }
    const c = h('canvas', {});
    c.width = video.videoWidth; c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((res) => c.toBlob(res, 'image/jpeg', 0.92));
    if (blob) await onShot(blob);
  });
  shoot.hidden = true;
  const start = action(t('enrol.startCamera'), async (b) => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      notice(t('enrol.noCamera'), 'error');
      return;
    }
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: false });
    video.srcObject = stream;
    b.hidden = true;
    shoot.hidden = false;
    shoot.focus();
  });
  return h('div', { class: 'card' }, h('h2', {}, t('enrol.fromCamera')), video, h('p', { class: 'row' }, start, shoot));
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
    h('label', { for: 'photo' }, t('take.photo')), file,
    h('details', {}, h('summary', {}, t('take.other')),
      h('label', { for: 'date' }, t('take.date')), date,
      h('label', { for: 'slot' }, t('take.slot')), slot),
    h('button', { type: 'submit', class: 'primary' }, t('take.find')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) { notice(t('take.chooseFirst'), 'error'); return; }
    const body = new FormData();
    body.append('file', f, f.name);
    body.append('subject_id', id);
    body.append('save', 'true');
    if (date.value) body.append('date', date.value);
    if (slot.value !== '') body.append('slot', slot.value);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    button.textContent = t('take.finding');
    try {
      const r = await api('POST', '/api/attendance/mark', body);
      location.hash = `#/draft/${r.draft.draft_id}`;
    } catch (e) {
      fail(e);
      button.disabled = false;
      button.textContent = t('take.find');
    }
  });
  render(
    h('p', {}, h('a', { href: `#/subject/${id}` }, `← ${subject.name}`)),
    h('h1', {}, t('take.title', { subject: subject.name })),
    h('p', { class: 'muted' }, t('take.help')),
    form,
    drafts.length ? h('section', { class: 'card' }, h('h2', {}, t('take.drafts')),
      h('ul', { class: 'plain' }, drafts.map((d) => h('li', {}, h('a', { href: `#/draft/${d.draft_id}` }, t('common.datePeriod', { date: d.date, slot: d.slot })))))) : null);
  file.focus();
});

// ---------------------------------------------------------------------------------------------
// Review a draft: every face boxed and coloured by status, uncertain ones first

/// A face's status in words: present, uncertain, unknown, assigned.
const statusText = (k) => t(`draft.status.${k}`);
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
      h('option', { value: '' }, t('draft.notMine')),
      f.candidates.length ? h('optgroup', { label: t('draft.nearest') }, f.candidates.map((c) => h('option', { value: c.student_id }, t('draft.candidate', { name: c.name, distance: c.distance.toFixed(2) })))) : null,
      h('optgroup', { label: t('draft.all') }, eligible.map((st) => h('option', { value: st.student_id }, `${st.name}${st.roll ? ` (${st.roll})` : ''}`))));
    sel.value = f.student ? f.student.id : '';
    const enrol = h('input', { id: 'enrol', type: 'checkbox' });
    const apply = action(t('draft.save'), async () => {
      const r = await api('PUT', `/api/attendance/drafts/${draftId}/faces/${f.photo}/${f.face}`,
        { student_id: sel.value || null, enrol: enrol.checked && !!sel.value });
      draft = r.draft;
      notice(sel.value ? t('draft.nowIs', { n: f.face + 1, name: sel.selectedOptions[0].textContent.replace(/ \(.*$/, '') }) : t('draft.notStudent', { n: f.face + 1 }));
      draw(faceKey(f));
    }, { class: 'primary', id: 'apply-face' });
    return h('div', { class: 'picker card', role: 'group', 'aria-labelledby': 'pick-title' },
      h('h3', { id: 'pick-title' }, t(draft.photos.length > 1 ? 'draft.faceInPhoto' : 'draft.face', { n: f.face + 1, photo: f.photo })),
      h('p', { id: 'pick-help', class: 'muted' }, f.student
        ? t(f.distance !== null ? 'draft.matchedDistance' : 'draft.matched',
          { name: f.student.name, status: statusText(faceStatus(f)), distance: f.distance !== null ? f.distance.toFixed(2) : '' })
        : t('draft.noMatch')),
      h('label', { for: 'pick' }, t('draft.who')), sel,
      h('label', { class: 'check' }, enrol, ' ', t('draft.alsoEnrol')),
      h('p', { class: 'row' }, apply, h('button', { type: 'button', onclick: () => { selected = null; draw(); } }, t('draft.close'))));
  };

  const view = h('div', {});
  const draw = (focusKey) => {
    const faces = [...draft.faces].sort((a, b) => reviewRank(a) - reviewRank(b) || a.photo - b.photo || a.face - b.face);
    const byKey = Object.fromEntries(draft.faces.map((f) => [faceKey(f), f]));
    if (selected && !byKey[selected]) selected = null;
    const select = (f) => { selected = faceKey(f); draw(faceKey(f)); const p = document.getElementById('pick'); if (p) p.focus(); };
    const label = (f) => t(f.student ? 'draft.boxLabelName' : 'draft.boxLabel', { n: f.face + 1, status: statusText(faceStatus(f)), name: f.student ? f.student.name : '' });
    const photos = draft.photos.map((p) => h('figure', { class: 'photo' },
      h('div', { class: 'frame' },
        h('img', { src: photoUrls[p.photo], alt: t('draft.photoAlt', { photo: p.photo }), width: p.width, height: p.height }),
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
      draft.photos.length > 1 ? h('figcaption', {}, t('draft.photoCaption', { photo: p.photo })) : null));
    const list = h('ol', { class: 'faces', 'aria-label': t('draft.facesLabel') }, faces.map((f) => h('li', {},
      h('button', { type: 'button', class: `face-item ${faceStatus(f)}`, 'data-face': faceKey(f), 'aria-pressed': String(selected === faceKey(f)), onclick: () => select(f) },
        h('span', { class: `dot ${faceStatus(f)}`, 'aria-hidden': 'true' }),
        h('span', {}, f.student ? f.student.name : t(draft.photos.length > 1 ? 'draft.faceItemPhoto' : 'draft.faceItem', { n: f.face + 1, photo: f.photo })),
        h('span', { class: 'muted' }, ' ', f.needs_review && f.status === 'present'
          ? t('draft.statusCheck', { status: statusText(faceStatus(f)) }) : statusText(faceStatus(f)))))));
    const present = new Set(draft.faces.filter((f) => f.student && (f.status === 'present' || f.assigned_by_teacher)).map((f) => f.student.id));
    const others = draft.not_seen.concat(draft.faces.filter((f) => f.student && !present.has(f.student.id) && f.status === 'uncertain').map((f) => f.student))
      .filter((st, i, all) => all.findIndex((x) => x.id === st.id) === i && !present.has(st.id));
    const manualRows = others.map((st) => {
      const sel = h('select', { id: `m-${st.id}`, onchange: (ev) => { manual[st.id] = ev.target.value; } },
        ['absent', 'present', 'late', 'excused'].map((v) => h('option', { value: v }, t(`common.status.${v}`))));
      sel.value = manual[st.id] || 'absent';
      return h('li', { class: 'manual' }, h('label', { for: `m-${st.id}` }, st.name), sel);
    });
    const confirm = action(tn('draft.confirm', present.size), async () => {
      const decisions = Object.entries(manual).filter(([, v]) => v !== 'absent').map(([student_id, status]) => ({ student_id, status }));
      const r = await api('POST', '/api/attendance/confirm', { draft_id: draftId, decisions });
      notice(tn('draft.recorded', r.summary.present + r.summary.late, { total: r.summary.total }));
      location.hash = `#/session/${r.session_id}`;
    }, { class: 'primary big-button', id: 'confirm' });
    const toReview = draft.faces.filter((f) => !f.assigned_by_teacher && (f.status === 'uncertain' || f.needs_review)).length;
    const unknownFaces = draft.faces.filter((f) => !f.assigned_by_teacher && f.status === 'unknown').length;
    view.replaceChildren(
      h('div', { class: 'review' },
        h('div', { class: 'photos' }, photos,
          h('p', { class: 'legend' },
            ['present', 'uncertain', 'unknown', 'assigned'].map((k) => h('span', {}, h('span', { class: `dot ${k}`, 'aria-hidden': 'true' }), ` ${statusText(k)}`)))),
        h('aside', { class: 'side' },
          h('p', { class: 'big', id: 'tally' }, `${tn('draft.count.faces', draft.faces.length)} · ${tn('draft.count.present', present.size)}`,
            toReview ? [' · ', h('strong', {}, tn('draft.count.uncertain', toReview))] : null,
            unknownFaces ? ` · ${tn('draft.count.unknown', unknownFaces)}` : null),
          selected ? pickerFor(byKey[selected]) : null,
          h('h2', {}, t('draft.faces')), list,
          manualRows.length ? h('section', {}, h('h2', {}, t('draft.notSeen')), h('ul', { class: 'plain' }, manualRows)) : null,
          confirm,
          h('p', { class: 'row' },
            h('a', { class: 'button', href: `#/subject/${draft.subject_id}/take` }, t('draft.addPhoto')),
            action(t('draft.discard'), async () => {
              if (!window.confirm(t('draft.confirmDiscard'))) return;
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
    h('h1', {}, t('draft.title', { subject: subject.name, date: draft.date, slot: draft.slot })),
    view);
});

// ---------------------------------------------------------------------------------------------
// A confirmed session: its result and corrections

route('/session/([0-9a-f]{24})', async (id) => {
  const x = await api('GET', `/api/attendance/sessions/${id}`);
  const summary = h('p', { class: 'big', 'aria-live': 'polite' });
  const showSummary = (sm) => {
    summary.textContent = t('session.summary', { present: sm.present, late: sm.late, excused: sm.excused, absent: sm.absent, pct: pct(sm.percentage) });
  };
  showSummary(x.summary);
  if (x.imported) {
    render(
      h('p', {}, h('a', { href: `#/subject/${x.subject_id}` }, `← ${x.subject_name}`)),
      h('h1', {}, `${x.subject_name}: ${x.date}`),
      summary,
      h('p', {}, t('session.importedText')));
    return;
  }
  const rows = x.records.map((r) => {
    const sel = h('select', { id: `s-${r.student_id}`, 'aria-label': t('session.statusOf', { name: r.name }) },
      ['present', 'late', 'excused', 'absent'].map((v) => h('option', { value: v }, t(`common.status.${v}`))));
    sel.value = r.status || 'absent';
    const source = h('td', { class: 'muted' }, r.source ? t(`session.source.${r.source}`) : t('session.notRecorded'));
    sel.addEventListener('change', async () => {
      sel.disabled = true;
      try {
        const c = await api('PUT', `/api/attendance/sessions/${id}/records/${r.student_id}`, { status: sel.value });
        showSummary(c.summary);
        source.textContent = t('session.source.correction');
        notice(t('session.changed', { name: r.name, status: t(`common.status.${sel.value}`) }));
      } catch (e) { fail(e); sel.value = r.status || 'absent'; } finally { sel.disabled = false; }
    });
    return h('tr', {}, h('th', { scope: 'row' }, r.name), h('td', {}, r.roll || '–'), h('td', {}, sel), source);
  });
  render(
    h('p', {}, h('a', { href: `#/subject/${x.subject_id}` }, `← ${x.subject_name}`)),
    h('h1', {}, t('session.title', { subject: x.subject_name, date: x.date, slot: x.slot })),
    summary,
    h('p', { class: 'row' },
      action(t('common.exportCsv'), () => download(`/api/attendance/sessions/${id}/export.csv`, `attendance-${x.subject_code}-${x.date}.csv`)),
      h('a', { class: 'button', href: `#/subject/${x.subject_id}/analytics` }, t('common.analytics'))),
    h('table', {}, h('caption', {}, t('session.caption')),
      heads(['student', 'roll', 'status', 'source']),
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
      h('section', { class: 'card' }, h('h2', {}, t('analytics.perDay')),
        trend.data.length ? lineChart(trend.data, risk.threshold) : h('p', { class: 'muted' }, t('analytics.noSessions')),
        trend.data.length ? h('details', {}, h('summary', {}, t('analytics.asTable')), h('table', {},
          heads(['date', 'sessions', 'present', 'late', 'excused', 'absent', 'attendance']),
          h('tbody', {}, trend.data.map((d) => h('tr', {}, h('th', { scope: 'row' }, d.date), [d.sessions, d.present, d.late, d.excused, d.absent].map((v) => h('td', {}, v)), h('td', {}, pct(d.percentage))))))) : null),
      h('section', { class: 'card' }, h('h2', {}, t('analytics.below', { threshold: risk.threshold })),
        risk.data.length
          ? h('table', { id: 'at-risk' },
            heads(['student', 'roll', 'attended', 'attendance']),
            h('tbody', {}, risk.data.map((r) => h('tr', { class: 'risk' }, h('th', { scope: 'row' }, r.name), h('td', {}, r.roll || '–'),
              h('td', {}, t('analytics.attended', { n: r.present + r.late, total: r.total - r.excused })), h('td', {}, pct(r.attendancePercentage))))))
          : h('p', {}, t('analytics.noRisk'))));
  };
  const form = h('form', { class: 'row inline-form' },
    h('label', { for: 'from' }, t('analytics.from')), from, h('label', { for: 'to' }, t('analytics.to')), to,
    h('button', { type: 'submit' }, t('analytics.show')),
    action(t('common.exportCsv'), () => download(`/api/attendance/subjects/${id}/export.csv?from=${from.value}&to=${to.value}`, `attendance-${subject.code}.csv`)));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load().catch(fail); });
  render(
    h('p', {}, h('a', { href: `#/subject/${id}` }, `← ${subject.name}`)),
    h('h1', {}, t('analytics.subjectTitle', { subject: subject.name })), form, out);
  await load();
});

route('/analytics', async () => {
  const [g, risk] = await Promise.all([api('GET', '/api/analytics/global'), api('GET', '/api/analytics/class-risk')]);
  render(
    h('h1', {}, t('analytics.title')),
    h('p', { class: 'big' }, fill(tn('analytics.overall', g.risk_count, { threshold: g.threshold }),
      { pct: h('strong', {}, pct(g.overall_attendance)) })),
    h('section', { class: 'card' }, h('h2', {}, t('analytics.perSubject')),
      barChart(g.top_subjects.map((x) => ({ label: x.subjectCode, value: x.attendancePercentage, bad: x.atRisk })), g.threshold, t('analytics.chartTitle')),
      h('ul', { class: 'plain' }, g.top_subjects.map((x) => h('li', {}, fill(t('analytics.subjectLine', { pct: pct(x.attendancePercentage) }),
        { subject: h('a', { href: `#/subject/${x.subjectId}/analytics` }, `${x.subjectName} (${x.subjectCode})`) }))))),
    h('section', { class: 'card' }, h('h2', {}, t('analytics.classRisk')),
      risk.data.length
        ? h('table', { id: 'class-risk' },
          heads(['subject', 'attendance', 'days', 'last']),
          h('tbody', {}, risk.data.map((r) => h('tr', { class: 'risk' }, h('th', { scope: 'row' }, h('a', { href: `#/subject/${r.classId}/analytics` }, r.className)),
            h('td', {}, pct(r.attendancePercentage)), h('td', {}, r.daysRecorded), h('td', {}, r.lastRecorded || '–')))))
        : h('p', {}, t('analytics.noClassRisk'))));
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
    'aria-label': tn(last !== null ? 'analytics.chart.lineLast' : 'analytics.chart.line', n, { last: pct(last), threshold }) },
  grid,
  s('line', { x1: L, x2: W - R, y1: y(threshold), y2: y(threshold), class: 'threshold' }),
  valued.length > 1 ? s('polyline', { points: valued.map(([i, v]) => `${x(i)},${y(v)}`).join(' '), class: 'trend' }) : null,
  valued.map(([i, v]) => s('circle', { cx: x(i), cy: y(v), r: 4, class: v < threshold ? 'pt bad' : 'pt' },
    s('title', {}, t('analytics.chart.point', { date: points[i].date, pct: pct(v) })))),
  labels);
}

function barChart(items, threshold, title) {
  if (!items.length) return h('p', { class: 'muted' }, t('analytics.chart.empty'));
  const W = 640, row = 28, L = 110, R = 56;
  const H = items.length * row + 8;
  const x = (v) => L + (v * (W - L - R)) / 100;
  const value = (it) => (it.value === null ? t('analytics.chart.noData') : pct(it.value));
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': t('analytics.chart.bars', { title, items: items.map((it) => t('analytics.chart.bar', { label: it.label, value: value(it) })).join(', ') }) },
  items.map((it, i) => [
    s('text', { x: L - 8, y: i * row + 19, 'text-anchor': 'end', class: 'axis' }, it.label),
    s('rect', { x: L, y: i * row + 6, width: Math.max(0, x(it.value || 0) - L), height: row - 10, class: it.bad ? 'bar bad' : 'bar' }),
    s('text', { x: x(it.value || 0) + 6, y: i * row + 19, class: 'axis' }, value(it))]),
  s('line', { x1: x(threshold), x2: x(threshold), y1: 0, y2: H, class: 'threshold' }));
}

window.addEventListener('hashchange', navigate);
document.addEventListener('DOMContentLoaded', navigate);
