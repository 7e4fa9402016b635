// The school office's pages (administrators): the office home, accounts and their invitations,
// importing a roster from the school's CSV export, and the public page an invitation link opens.
// Loaded after app.js and uses its helpers (h, api, route, action, notice, fail, render,
// addNavLink, session, saveSession); every word comes from web/i18n/<lang>.office.js.
'use strict';

// ---------------------------------------------------------------------------------------------
// The API calls of the office pages, in one place (field names follow the API document).

/// Calls the API like `api`, but answers a refusal too instead of throwing it (the roster
/// import answers 422 with its per-line report): `{ ok, status, json }`.
async function officeCall(method, path, body) {
  try {
    return { ok: true, status: 200, json: await api(method, path, body) };
  } catch (e) {
    if (e instanceof ApiError && e.status !== 401) return { ok: false, status: e.status, json: e.body };
    throw e;
  }
}

/// A call made before logging in (an invitation link): no token, whatever session there is.
async function publicCall(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const json = await r.json().catch(() => null);
  return { ok: r.ok, status: r.status, json };
}

const rosterUpload = (path, file) => {
  const form = new FormData();
  form.append('file', file, file.name || 'roster.csv');
  return officeCall('POST', path, form);
};

const OfficeApi = {
  /// `{ q, role, limit, offset }` -> `{ users: [...] }`
  listUsers: (query) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== '' && v !== null && v !== undefined) p.set(k, v);
    return api('GET', `/api/admin/users?${p}`);
  },
  getUser: (id) => api('GET', `/api/admin/users/${id}`),
  /// `{ role, email, name, employee_id?, phone?, roll?, year?, branch? }`: no password, so the
  /// account is invited to choose one.
  createUser: (body) => api('POST', '/api/admin/users', body),
  invite: (id) => api('POST', `/api/admin/users/${id}/invite`),
  verify: (id) => api('POST', `/api/admin/users/${id}/verify`),
  revokeSessions: (id) => api('POST', `/api/admin/users/${id}/revoke-sessions`),
  updateUser: (id, changes) => api('PATCH', `/api/admin/users/${id}`, changes),
  deletionPreview: (id) => api('GET', `/api/admin/users/${id}/deletion`),
  deleteUser: (id) => api('DELETE', `/api/admin/users/${id}`),
  rosterPreview: (file) => rosterUpload('/api/admin/roster/preview', file),
  rosterImport: (file) => rosterUpload('/api/admin/roster/import', file),
  invitation: (token) => publicCall('GET', `/api/auth/invitation?token=${encodeURIComponent(token)}`),
  acceptInvitation: (token, password) => publicCall('POST', '/api/auth/accept-invitation', { token, password }),
};

// Adapters: the few places that know the answers' shapes.
const accountId = (u) => u.id || u.user_id;
/// `{ create, update, unchanged, errors }` of a preview or import report (flat `created`… or
/// nested `counts`).
function rosterCounts(r) {
  const c = r.counts || {};
  const pick = (...vals) => Number(vals.find((v) => v !== undefined && v !== null) || 0);
  const lines = rosterLines(r);
  const count = (a) => lines.filter((l) => l.action === a).length;
  return {
    create: pick(c.create, c.created, r.created, r.create, count('create')),
    update: pick(c.update, c.updated, r.updated, r.update, count('update')),
    unchanged: pick(c.unchanged, r.unchanged, count('unchanged')),
    errors: pick(c.errors, r.errors, count('error')),
  };
}
/// A refused import answers `{ detail, report }` (or the report itself).
const rosterReportOf = (json) => (json && json.report ? json.report : json);
const rosterLines = (r) => (r && Array.isArray(r.lines) ? r.lines : []);
/// The counts of a deletion preview: `removes` (or the object itself), without the meta fields.
function deletionCounts(p) {
  const src = p && typeof p.removes === 'object' && p.removes ? p.removes : p || {};
  return Object.entries(src).filter(([k]) => !['user', 'can_delete', 'refused', 'user_id'].includes(k));
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A word from the office's dictionary when it has one, else the key made readable (for
/// fields the API adds later).
function officeLabel(key, fallback) {
  const en = I18N.strings.en || {};
  return en[key] !== undefined ? t(key) : String(fallback).replace(/_/g, ' ');
}

const fmtDate = (iso) => {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : new Intl.DateTimeFormat(currentLang(), { dateStyle: 'medium' }).format(d);
};
const fmtNum = (n) => new Intl.NumberFormat(currentLang()).format(Number(n));

/// The office pages are for administrators; anyone else gets a short explanation.
function adminOnly() {
  const me = session();
  if (me && me.role === 'admin') return true;
  render(h('h1', {}, t('office.only_admins.title')), h('p', {}, t('office.only_admins.text')),
    h('p', {}, h('a', { href: '#/' }, t('office.back_start'))));
  return false;
}

const backToOffice = () => h('p', {}, h('a', { href: '#/office' }, `← ${t('office.title')}`));

addNavLink(['admin'], '#/office', 'nav.office');

// ---------------------------------------------------------------------------------------------
// The office home

route('/office', async () => {
  if (!adminOnly()) return;
  const links = [
    ['#/office/accounts', 'office.home.accounts', 'office.home.accounts_text'],
    ['#/office/roster', 'office.home.roster', 'office.home.roster_text'],
    ['#/office/outbox', 'office.home.outbox', 'office.home.outbox_text'],
    ['#/office/audit', 'office.home.audit', 'office.home.audit_text'],
    ['#/office/subjects', 'office.home.subjects', 'office.home.subjects_text'],
  ];
  render(h('h1', {}, t('office.title')),
    h('ul', { class: 'cards office-links' }, links.map(([href, title, text]) => h('li', { class: 'card' },
      h('h2', {}, h('a', { href }, t(title))),
      h('p', { class: 'muted' }, t(text))))));
});

// ---------------------------------------------------------------------------------------------
// Accounts

const PAGE_SIZE = 25;
const ROLES = ['teacher', 'student', 'admin'];

function invitationBadge(u) {
  if (!u.invitation) return null;
  const kind = { pending: 'warn', expired: 'bad', accepted: 'good', none: '' }[u.invitation] || '';
  const text = u.invitation === 'pending' && u.invited_at
    ? t('office.invitation.pending_since', { date: fmtDate(u.invited_at) })
    : officeLabel(`office.invitation.${u.invitation}`, u.invitation);
  return h('span', { class: `badge ${kind}` }, text);
}

route('/office/accounts', async () => {
  if (!adminOnly()) return;
  const state = { q: '', role: '', offset: 0 };
  const q = h('input', { id: 'acc-q', type: 'search', autocomplete: 'off', maxlength: 200 });
  const role = h('select', { id: 'acc-role' },
    h('option', { value: '' }, t('office.accounts.all_roles')),
    ROLES.map((r) => h('option', { value: r }, t(`office.accounts.role_filter.${r}`))));
  const search = h('form', { class: 'card office-search', role: 'search' },
    h('div', {}, h('label', { for: 'acc-q' }, t('office.accounts.search')), q),
    h('div', {}, h('label', { for: 'acc-role' }, t('office.accounts.role')), role),
    h('button', { type: 'submit' }, t('office.accounts.search_button')));
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'plain office-accounts' });
  const pager = h('nav', { class: 'row office-pager', 'aria-label': t('office.accounts.pages') });

  // Only the latest request draws: an earlier answer arriving late (a search, then a new
  // account at once) must not replace the newer list.
  let requests = 0;
  const load = async (focusResults) => {
    const mine = ++requests;
    const r = await OfficeApi.listUsers({ q: state.q, role: state.role, limit: PAGE_SIZE + 1, offset: state.offset });
    if (mine !== requests) return;
    const users = (r.users || []).slice(0, PAGE_SIZE);
    const more = (r.users || []).length > PAGE_SIZE;
    list.replaceChildren(...users.map((u) => accountItem(u, load)));
    status.textContent = users.length
      ? t('office.accounts.showing', { from: state.offset + 1, to: state.offset + users.length })
      : t('office.accounts.none_found');
    const page = Math.floor(state.offset / PAGE_SIZE) + 1;
    pager.replaceChildren(
      h('button', { type: 'button', disabled: state.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); load(true).catch(fail); } },
        t('office.accounts.previous')),
      h('span', {}, t('office.accounts.page', { n: page })),
      h('button', { type: 'button', disabled: !more, onclick: () => { state.offset += PAGE_SIZE; load(true).catch(fail); } },
        t('office.accounts.next')));
    if (focusResults) status.focus();
  };
  status.setAttribute('tabindex', '-1');
  search.addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.q = q.value.trim();
    state.role = role.value;
    state.offset = 0;
    load(false).catch(fail);
  });
  role.addEventListener('change', () => { state.role = role.value; state.offset = 0; load(false).catch(fail); });

  render(backToOffice(), h('h1', {}, t('office.accounts.title')),
    h('p', { class: 'row' }, h('a', { class: 'button', href: '#/office/roster' }, t('office.home.roster'))),
    search,
    h('section', { 'aria-labelledby': 'acc-list-h' },
      h('h2', { id: 'acc-list-h' }, t('office.accounts.list')), status, list, pager),
    createAccountForm(() => { state.offset = 0; return load(false); }));
  await load(false);
});

/// One account: who, what state, and what the office can do with it.
function accountItem(u, reload) {
  const id = accountId(u);
  const who = { name: u.name };
  const confirmArea = h('div', { 'aria-live': 'polite' });
  const actions = [];
  if (u.invitation === 'pending' || u.invitation === 'expired') {
    actions.push(action(t('office.accounts.resend'), async () => {
      await OfficeApi.invite(id);
      notice(t('office.accounts.resent', { name: u.name, email: u.email }));
      await reload();
    }, { class: 'small', 'aria-label': t('office.accounts.resend_for', who) }));
  }
  if (!u.is_verified) {
    actions.push(action(t('office.accounts.verify'), async () => {
      await OfficeApi.verify(id);
      notice(t('office.accounts.verified_done', who));
      await reload();
    }, { class: 'small', 'aria-label': t('office.accounts.verify_for', who) }));
  }
  actions.push(action(t('office.accounts.revoke'), async () => {
    const r = await OfficeApi.revokeSessions(id);
    notice(tn('office.accounts.revoked', Number(r.revoked_sessions || 0), who));
  }, { class: 'small', 'aria-label': t('office.accounts.revoke_for', who) }));
  if (u.role !== 'student') {
    // Staff swap between teacher and administrator; a student stays a student.
    const sel = h('select', { id: `role-${id}`, class: 'small' },
      ['teacher', 'admin'].map((r) => h('option', { value: r, selected: r === u.role }, t(`role.${r}`))));
    actions.push(h('span', { class: 'office-role' },
      h('label', { for: `role-${id}`, class: 'sr-only' }, t('office.accounts.role_of', who)), sel,
      action(t('office.accounts.change_role'), async () => {
        if (sel.value === u.role) return;
        await OfficeApi.updateUser(id, { role: sel.value });
        notice(t('office.accounts.role_changed', { name: u.name, role: t(`role.${sel.value}`) }));
        await reload();
      }, { class: 'small', 'aria-label': t('office.accounts.change_role_for', who) })));
  }
  const del = action(t('office.accounts.delete'), async () => {
    const p = await OfficeApi.deletionPreview(id);
    confirmArea.replaceChildren(deletionBox(u, p, reload, () => { confirmArea.replaceChildren(); del.focus(); }));
    const heading = confirmArea.querySelector('h4');
    if (heading) heading.focus();
  }, { class: 'small danger', 'aria-label': t('office.accounts.delete_for', who) });
  actions.push(del);
  return h('li', { class: 'card office-account' },
    h('h3', {}, u.name),
    h('p', { class: 'office-email' }, u.email),
    h('p', { class: 'office-badges' },
      h('span', { class: 'badge' }, t(`role.${u.role}`)),
      h('span', { class: `badge ${u.is_verified ? 'good' : 'warn'}` }, t(u.is_verified ? 'office.accounts.verified' : 'office.accounts.not_verified')),
      invitationBadge(u),
      u.created_at ? h('span', { class: 'muted office-since' }, t('office.accounts.created_on', { date: fmtDate(u.created_at) })) : null),
    h('div', { class: 'row office-actions' }, actions),
    confirmArea);
}

/// What deleting an account removes, then the confirmation.
function deletionBox(u, p, reload, cancel) {
  const counts = deletionCounts(p);
  const item = ([k, v]) => {
    const label = officeLabel(`office.deletion.${k}`, k);
    if (Array.isArray(v)) {
      return h('li', {}, `${label}: `, v.length
        ? v.map((x) => (x && typeof x === 'object' ? [x.name, x.code].filter(Boolean).join(' ') : String(x))).join(', ')
        : t('office.deletion.none'));
    }
    return h('li', {}, `${label}: `, h('strong', {}, typeof v === 'number' ? fmtNum(v) : String(v)));
  };
  const refused = p && p.can_delete === false;
  return h('div', { class: 'card office-confirm', role: 'group', 'aria-labelledby': `del-h-${accountId(u)}` },
    h('h4', { id: `del-h-${accountId(u)}`, tabindex: '-1' }, t('office.deletion.title', { name: u.name })),
    refused ? h('p', { class: 'error-text', role: 'alert' }, p.refused || t('office.deletion.refused')) : null,
    h('p', {}, t('office.deletion.intro')),
    h('ul', {}, counts.map(item)),
    h('p', { class: 'row' },
      refused ? null : action(t('office.deletion.confirm', { name: u.name }), async () => {
        await OfficeApi.deleteUser(accountId(u));
        notice(t('office.deletion.done', { name: u.name }));
        await reload();
      }, { class: 'danger' }),
      h('button', { type: 'button', onclick: cancel }, t('office.deletion.cancel'))));
}

function createAccountForm(reload) {
  const field = (id, key, props = {}) => [h('label', { for: id }, t(key)), h('input', { id, ...props })];
  const role = h('select', { id: 'new-role' }, ROLES.map((r) => h('option', { value: r }, t(`role.${r}`))));
  const [nameL, name] = field('new-name', 'office.create.name', { required: true, maxlength: 100, autocomplete: 'off' });
  const [emailL, email] = field('new-email', 'office.create.email', { type: 'email', required: true, autocomplete: 'off' });
  const staff = h('fieldset', { class: 'office-optional' }, h('legend', {}, t('office.create.optional')),
    field('new-employee', 'office.create.employee_id', { maxlength: 40 }),
    field('new-phone', 'office.create.phone', { type: 'tel', maxlength: 40 }));
  const student = h('fieldset', { class: 'office-optional', hidden: true }, h('legend', {}, t('office.create.optional')),
    field('new-roll', 'office.create.roll', { maxlength: 40 }),
    field('new-year', 'office.create.year', { maxlength: 20 }),
    field('new-branch', 'office.create.branch', { maxlength: 100 }));
  const showFields = () => { student.hidden = role.value !== 'student'; staff.hidden = role.value === 'student'; };
  role.addEventListener('change', showFields);
  const err = h('p', { class: 'error-text', role: 'alert' });
  const out = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('office.create.submit'));
  const form = h('form', { class: 'card office-create', 'aria-labelledby': 'new-h' },
    h('h2', { id: 'new-h' }, t('office.create.title')),
    h('p', { class: 'muted' }, t('office.create.intro')),
    h('label', { for: 'new-role' }, t('office.create.role')), role,
    nameL, name, emailL, email, staff, student, err, submit, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    err.textContent = '';
    out.replaceChildren();
    const val = (id) => (document.getElementById(id).value || '').trim() || undefined;
    const body = { role: role.value, name: name.value.trim(), email: email.value.trim() };
    const extra = role.value === 'student'
      ? { roll: val('new-roll'), year: val('new-year'), branch: val('new-branch') }
      : { employee_id: val('new-employee'), phone: val('new-phone') };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) body[k] = v;
    submit.disabled = true;
    try {
      const u = await OfficeApi.createUser(body);
      form.reset();
      showFields();
      await reload();
      // An account the server gave a password to (no invitation) shows it once.
      out.replaceChildren(h('p', { class: 'card good-card' }, u.password
        ? t('office.create.done_password', { name: u.name, password: u.password })
        : t('office.create.done_invited', { name: u.name, email: u.email })));
      notice(t('office.create.done', { name: u.name }));
    } catch (e) {
      if (e instanceof Stale) return;
      err.textContent = e.message;
    } finally { submit.disabled = false; }
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// Import a roster

route('/office/roster', async () => {
  if (!adminOnly()) return;
  const file = h('input', { id: 'roster-file', type: 'file', accept: '.csv,.txt,text/csv,text/plain', 'aria-describedby': 'roster-help' });
  const out = h('div', { id: 'roster-out' });
  const err = h('p', { class: 'error-text', role: 'alert' });
  let checked = null; // the File the preview was made of
  // Enabled only while the checked file has no errors (`action` would enable it after every run).
  const importButton = h('button', { type: 'button', class: 'primary', id: 'roster-import', disabled: true }, t('office.roster.import'));
  let importable = false;
  const setImport = (on) => { importable = on; importButton.disabled = !on; };
  importButton.addEventListener('click', async () => {
    if (!importable || !checked) return;
    setImport(false);
    importButton.setAttribute('aria-busy', 'true');
    err.textContent = '';
    try {
      const r = await OfficeApi.rosterImport(checked);
      const report = rosterReportOf(r.json);
      if (r.ok) {
        checked = null;
        showReport(report, true);
        notice(t('office.roster.imported'));
      } else if (r.status === 422 && report && report.lines) {
        showReport(report, false);
        err.textContent = (r.json && r.json.detail) || t('office.roster.refused');
      } else {
        err.textContent = (r.json && r.json.detail) || `${r.status}`;
        setImport(true);
      }
    } catch (e) { fail(e); setImport(!!checked); } finally { importButton.removeAttribute('aria-busy'); }
  });
  const showReport = (report, imported) => {
    const c = rosterCounts(report);
    const lines = rosterLines(report);
    const summary = imported
      ? [tn('office.roster.created', c.create), tn('office.roster.updated', c.update), tn('office.roster.unchanged', c.unchanged)]
      : [tn('office.roster.to_create', c.create), tn('office.roster.to_update', c.update), tn('office.roster.unchanged', c.unchanged),
        tn('office.roster.errors', c.errors)];
    const fileWarnings = Array.isArray(report.warnings) ? report.warnings : [];
    out.replaceChildren(h('section', { class: 'card', 'aria-labelledby': 'roster-result-h' },
      h('h2', { id: 'roster-result-h', tabindex: '-1' }, t(imported ? 'office.roster.report_title' : 'office.roster.preview_title')),
      h('p', { class: 'big', id: 'roster-summary' }, summary.join(' · ')),
      report.encoding || report.delimiter
        ? h('p', { class: 'muted' }, t('office.roster.read_as', {
          encoding: report.encoding || '?', delimiter: officeLabel(`office.roster.delimiter.${report.delimiter}`, report.delimiter || '?'),
        })) : null,
      fileWarnings.length ? h('ul', { class: 'office-warnings' }, fileWarnings.map((w) => h('li', {}, problemText(w)))) : null,
      !imported && c.errors > 0 ? h('p', { class: 'error-text' }, t('office.roster.fix_first')) : null,
      lines.length ? rosterTable(lines) : h('p', { class: 'muted' }, t('office.roster.no_lines'))));
    setImport(!imported && c.errors === 0 && lines.length > 0);
    out.querySelector('h2').focus();
  };
  const check = h('button', { type: 'submit' }, t('office.roster.check'));
  const form = h('form', { class: 'card' },
    h('label', { for: 'roster-file' }, t('office.roster.file')), file,
    h('p', { class: 'muted', id: 'roster-help' }, t('office.roster.help')),
    check);
  file.addEventListener('change', () => { checked = null; setImport(false); out.replaceChildren(); err.textContent = ''; });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const f = file.files && file.files[0];
    if (!f) { err.textContent = t('office.roster.choose'); file.focus(); return; }
    check.disabled = true;
    setImport(false);
    try {
      const r = await OfficeApi.rosterPreview(f);
      if (!r.ok) {
        out.replaceChildren();
        err.textContent = (r.json && r.json.detail) || `${r.status}`;
        return;
      }
      checked = f;
      showReport(r.json, false);
    } catch (e) { fail(e); } finally { check.disabled = false; }
  });
  render(backToOffice(), h('h1', {}, t('office.roster.title')),
    h('p', {}, t('office.roster.intro')),
    form, err, out,
    h('p', { class: 'row' }, importButton, h('span', { class: 'muted' }, t('office.roster.import_hint'))));
});

function problemText(p) {
  if (typeof p === 'string') return p;
  const where = [p.line ? t('office.roster.line_n', { n: p.line }) : null, p.column || null].filter(Boolean).join(', ');
  return where ? `${where}: ${p.message}` : String(p.message);
}

function rosterTable(lines) {
  const head = ['office.roster.col.line', 'office.roster.col.name', 'office.roster.col.email', 'office.roster.col.action', 'office.roster.col.problems'].map((k) => t(k));
  const actionKind = { create: 'good', update: 'warn', unchanged: '', error: 'bad' };
  return h('table', { class: 'office-stack', id: 'roster-lines' },
    h('caption', {}, t('office.roster.lines_caption')),
    h('thead', {}, h('tr', {}, head.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, lines.map((l) => {
      const problems = Array.isArray(l.problems) ? l.problems : [];
      const warnings = Array.isArray(l.warnings) ? l.warnings : [];
      const changes = Array.isArray(l.changes) ? l.changes : [];
      const bad = l.action === 'error' || problems.length > 0;
      return h('tr', { class: bad ? 'office-bad' : '' },
        h('th', { scope: 'row', 'data-label': head[0] }, String(l.line)),
        h('td', { 'data-label': head[1] }, l.name || '–'),
        h('td', { 'data-label': head[2], class: 'office-email' }, l.email || '–'),
        h('td', { 'data-label': head[3] }, h('span', { class: `badge ${actionKind[l.action] || ''}` },
          officeLabel(`office.roster.action.${l.action}`, l.action)),
        changes.length ? h('span', { class: 'muted office-changes' }, ` ${changes.join(', ')}`) : null),
        h('td', { 'data-label': head[4] },
          problems.length || warnings.length ? h('ul', { class: 'office-problems' },
            problems.map((p) => h('li', { class: 'error-text' }, h('strong', {}, t('office.roster.error')), ' ', problemText({ ...p, line: null }))),
            warnings.map((p) => h('li', {}, t('office.roster.warning'), ' ', problemText({ ...p, line: null })))) : '–'));
    })));
}

// ---------------------------------------------------------------------------------------------
// An invitation link: the invited person chooses their password (public: not logged in yet)

route('/invitation/([^/]+)', async (token) => {
  const r = await OfficeApi.invitation(token);
  if (!r.ok) {
    render(h('div', { class: 'card narrow' },
      h('h1', {}, t('office.invite.bad_title')),
      h('p', { class: 'error-text', role: 'alert' }, (r.json && r.json.detail) || t('office.invite.bad_text')),
      h('p', {}, t('office.invite.ask_office')),
      h('p', {}, h('a', { href: '#/login' }, t('office.invite.to_login')))));
    return;
  }
  const who = r.json;
  const email = h('input', { id: 'inv-email', type: 'email', autocomplete: 'username', value: who.email, readonly: true });
  const pw = h('input', { id: 'inv-pw', type: 'password', autocomplete: 'new-password', required: true, maxlength: 128, 'aria-describedby': 'inv-rule' });
  const pw2 = h('input', { id: 'inv-pw2', type: 'password', autocomplete: 'new-password', required: true, maxlength: 128 });
  const err = h('p', { class: 'error-text', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('office.invite.submit'));
  const form = h('form', { class: 'card narrow' },
    h('h1', {}, t('office.invite.welcome', { name: who.name })),
    h('p', {}, t('office.invite.intro', { role: t(`role.${who.role}`) })),
    who.expires_at ? h('p', { class: 'muted' }, t('office.invite.expires', { date: fmtDate(who.expires_at) })) : null,
    h('label', { for: 'inv-email' }, t('office.invite.email')), email,
    h('label', { for: 'inv-pw' }, t('office.invite.password')), pw,
    h('p', { class: 'muted', id: 'inv-rule' }, t('office.invite.rule')),
    h('label', { for: 'inv-pw2' }, t('office.invite.password_again')), pw2,
    err, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    err.textContent = '';
    if (pw.value !== pw2.value) { err.textContent = t('office.invite.differ'); pw2.select(); return; }
    submit.disabled = true;
    try {
      const a = await OfficeApi.acceptInvitation(token, pw.value);
      if (!a.ok) { err.textContent = (a.json && a.json.detail) || `${a.status}`; pw.select(); return; }
      const j = a.json;
      saveSession({ token: j.access_token, refresh_token: j.refresh_token, role: j.role, name: j.name, user_id: j.user_id });
      notice(t('office.invite.done', { name: j.name || who.name }));
      location.hash = '#/';
    } catch (e) { err.textContent = e.message; } finally { submit.disabled = false; }
  });
  render(form);
  pw.focus();
}, { public: true });
