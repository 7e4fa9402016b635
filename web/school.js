// The school's own pages beyond the classroom: the office's mail outbox, audit log and subjects
// (administrators), the teacher's timetable, and a student's own face photos. Every word comes
// from `web/i18n/<lang>.school.js`. Built on app.js's helpers (`h`, `api`, `route`, `action`,
// `notice`, `fail`, `render`, `addNavLink`); wrapped in a function so that its names stay its own.
(() => {
  'use strict';

  // -------------------------------------------------------------------------------------------
  // Shared bits

  const lang = () => currentLang();
  /// The reader's own variant of the page's language for dates (en-GB, fr-CA...), else the language.
  const locale = () => (navigator.languages || []).find((l) => l.toLowerCase().split('-')[0] === lang()) || lang();
  /// An RFC 3339 instant in the reader's time zone, e.g. "12 Mar 2026, 14:05".
  const fmtTime = (iso) => (iso ? new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso)) : '–');
  const fmtDate = (iso) => (iso ? new Intl.DateTimeFormat(locale(), { dateStyle: 'long' }).format(new Date(iso)) : '–');
  const timeEl = (iso) => h('time', { datetime: iso }, fmtTime(iso));
  const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  /// The query of a route like `#/office/audit?action=face.` (values are never decoded twice).
  const query = () => new URLSearchParams(location.hash.split('?')[1] || '');
  const errBox = () => h('p', { class: 'error-text', role: 'alert' });
  const detailOf = (e) => (e instanceof Error ? e.message : String(e));
  const backTo = (href, key) => h('p', {}, h('a', { href }, `← ${t(key)}`));

  /// A page for one role: others are told whose page it is instead of the API's refusal.
  function onlyFor(role, titleKey) {
    const me = session();
    if (me && me.role === role) return true;
    render(h('h1', {}, t(titleKey)), h('p', {}, t(`school.only.${role}`)),
      h('p', {}, h('a', { href: '#/' }, t('school.back.start'))));
    return false;
  }

  /// Every account (administrators only), for names of ids: fetched a page of 500 at a time.
  async function allUsers(role) {
    const out = [];
    for (let offset = 0; offset < 20000; offset += 500) {
      const page = await api('GET', `/api/admin/users?limit=500&offset=${offset}${role ? `&role=${role}` : ''}`);
      out.push(...page.users);
      if (page.users.length < 500) break;
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // The mail outbox (administrators)

  const STATES = ['queued', 'retrying', 'sent', 'dead'];
  const STATE_BADGE = { queued: '', retrying: 'warn', sent: 'good', dead: 'bad' };
  const stateBadge = (state) => h('span', { class: `badge ${STATE_BADGE[state] || ''}` }, t(`school.state.${state}`));
  const PAGE = 50;

  route('/office/outbox(?:\\?.*)?', async () => {
    if (!onlyFor('admin', 'school.outbox.title')) return;
    const q = query();
    const state = [...STATES, 'pending'].includes(q.get('state')) ? q.get('state') : 'dead';
    const offset = Math.max(0, Number(q.get('offset')) || 0);
    const box = await api('GET', `/api/admin/outbox?status=${state}&limit=${PAGE + 1}&offset=${offset}`);
    const more = box.messages.length > PAGE;
    const messages = box.messages.slice(0, PAGE);
    const link = (s, o) => `#/office/outbox?state=${s}${o ? `&offset=${o}` : ''}`;
    const tabs = h('ul', { class: 'tabs', 'aria-label': t('school.outbox.states') }, STATES.map((s) => h('li', {},
      h('a', { href: link(s), 'aria-current': s === state ? 'page' : null, class: s === state ? 'current' : null },
        t(`school.state.${s}`), ' ', h('span', { class: `badge ${STATE_BADGE[s]}`, id: `count-${s}` }, box.counts[s])))));
    const retryOne = (m) => action(t('school.outbox.retry'), async () => {
      await api('POST', `/api/admin/outbox/${m.id}/retry`);
      notice(t('school.outbox.retriedOne', { to: m.recipient }));
      await navigate();
    }, { class: 'small', 'aria-label': t('school.outbox.retryTo', { to: m.recipient, subject: m.subject }) });
    const list = messages.length
      ? h('ul', { class: 'plain messages' }, messages.map((m) => h('li', { class: 'card message', 'data-id': m.id },
        h('h2', {}, h('a', { href: `#/office/outbox/${m.id}` }, m.subject || t('school.outbox.noSubject'))),
        h('p', { class: 'row' }, stateBadge(m.state), h('span', {}, t('school.outbox.to', { to: m.recipient })),
          h('span', { class: 'muted' }, tn('school.outbox.attempts', m.attempts)),
          h('span', { class: 'muted' }, t('school.outbox.created', { at: fmtTime(m.created_at) }))),
        m.last_error ? h('p', { class: 'error-text wrap' }, t('school.outbox.lastError', { error: m.last_error })) : null,
        m.state === 'dead' ? h('p', {}, retryOne(m)) : null)))
      : h('p', { class: 'muted' }, t(`school.outbox.none.${state}`));
    const pager = h('p', { class: 'row' },
      offset > 0 ? h('a', { class: 'button', href: link(state, Math.max(0, offset - PAGE)) }, t('school.page.newer')) : null,
      more ? h('a', { class: 'button', href: link(state, offset + PAGE) }, t('school.page.older')) : null);
    render(
      backTo('#/office', 'school.back.office'),
      h('h1', {}, t('school.outbox.title')),
      box.relay_configured ? null : h('p', { class: 'card warn-card' }, t('school.outbox.noRelay')),
      h('nav', { 'aria-label': t('school.outbox.states') }, tabs),
      h('p', { class: 'row' },
        action(t('school.outbox.retryDead'), async () => {
          const r = await api('POST', '/api/admin/outbox/retry-dead');
          notice(tn('school.outbox.retried', r.retried));
          await navigate();
        }, { disabled: box.counts.dead === 0 }),
        action(t('school.refresh'), () => navigate())),
      h('section', { 'aria-labelledby': 'list-title' },
        h('h2', { id: 'list-title', class: 'sr-only' }, t(`school.outbox.listOf.${state}`)),
        list),
      pager);
  });

  route('/office/outbox/([0-9]+)', async (id) => {
    if (!onlyFor('admin', 'school.outbox.title')) return;
    const m = await api('GET', `/api/admin/outbox/${id}`);
    const row = (key, value) => [h('dt', {}, t(key)), h('dd', {}, value)];
    render(
      backTo(`#/office/outbox?state=${m.state}`, 'school.outbox.title'),
      h('h1', {}, m.subject || t('school.outbox.noSubject')),
      h('dl', { class: 'facts' },
        row('school.outbox.f.to', m.recipient),
        row('school.outbox.f.state', stateBadge(m.state)),
        row('school.outbox.f.kind', h('code', {}, m.kind)),
        row('school.outbox.f.attempts', String(m.attempts)),
        row('school.outbox.f.created', timeEl(m.created_at)),
        m.state === 'sent' ? row('school.outbox.f.sent', timeEl(m.sent_at)) : null,
        m.state === 'queued' || m.state === 'retrying' ? row('school.outbox.f.next', timeEl(m.next_attempt_at)) : null,
        m.last_error ? row('school.outbox.f.error', h('span', { class: 'error-text wrap' }, m.last_error)) : null),
      m.state === 'dead' ? h('p', {}, action(t('school.outbox.retry'), async () => {
        await api('POST', `/api/admin/outbox/${m.id}/retry`);
        notice(t('school.outbox.retriedOne', { to: m.recipient }));
        await navigate();
      }, { class: 'primary' })) : null,
      h('section', { class: 'card' }, h('h2', {}, t('school.outbox.body')),
        h('p', { class: 'muted' }, t('school.outbox.bodyNote')),
        h('pre', { class: 'mail-body', tabindex: '0', 'aria-label': t('school.outbox.body') }, m.body_text)));
  });

  // -------------------------------------------------------------------------------------------
  // The audit log (administrators)

  /// The actions the server records, offered as suggestions (any other text is searched as typed).
  const ACTIONS = ['attendance.', 'face.', 'face.view', 'consent.', 'subject.', 'subject.enrol', 'subject.unenrol',
    'subject.teacher_add', 'subject.teacher_remove', 'student.', 'user.', 'auth.', 'outbox.', 'outbox.view',
    'outbox.retry', 'teacher.settings', 'draft.', 'retention.'];

  route('/office/audit(?:\\?.*)?', async () => {
    if (!onlyFor('admin', 'school.audit.title')) return;
    const q = query();
    const offset = Math.max(0, Number(q.get('offset')) || 0);
    const params = new URLSearchParams({ limit: String(PAGE + 1), offset: String(offset) });
    for (const k of ['actor', 'action', 'target']) if (q.get(k)) params.set(k, q.get(k));
    // `since` and `until` in the URL are the local dates and times the reader typed; the API
    // wants unix seconds.
    const sinceLocal = q.get('since') || '';
    const untilLocal = q.get('until') || '';
    for (const [k, local] of [['since', sinceLocal], ['until', untilLocal]]) {
      const at = local ? new Date(local).getTime() : Number.NaN;
      if (!Number.isNaN(at)) params.set(k, String(Math.floor(at / 1000)));
    }
    const [log, users, subjects] = await Promise.all([
      api('GET', `/api/admin/audit?${params}`), allUsers(), api('GET', '/api/subjects')]);
    const userById = Object.fromEntries(users.map((u) => [u.user_id, u]));
    const subjectById = Object.fromEntries(subjects.map((s) => [s.id, s]));
    const more = log.entries.length > PAGE;
    const entries = log.entries.slice(0, PAGE);
    const nameOf = (id) => {
      if (userById[id]) return `${userById[id].name} (${t(`role.${userById[id].role}`)})`;
      if (subjectById[id]) return t('school.audit.subjectName', { name: subjectById[id].name, code: subjectById[id].code });
      return null;
    };
    const filterLink = (k, v, text) => {
      const p = new URLSearchParams(q);
      p.set(k, v);
      p.delete('offset');
      return h('a', { href: `#/office/audit?${p}`, title: t('school.audit.only') }, text);
    };

    const actor = h('select', { id: 'a-actor', name: 'actor' },
      h('option', { value: '' }, t('school.audit.anyone')),
      [...users].sort((a, b) => a.name.localeCompare(b.name)).map((u) => h('option', { value: u.user_id, selected: u.user_id === q.get('actor') },
        `${u.name} (${u.email})`)));
    const actionIn = h('input', { id: 'a-action', name: 'action', list: 'a-actions', value: q.get('action') || '', 'aria-describedby': 'a-action-help', autocomplete: 'off' });
    const target = h('input', { id: 'a-target', name: 'target', value: q.get('target') || '', autocomplete: 'off' });
    const since = h('input', { id: 'a-since', name: 'since', type: 'datetime-local', value: sinceLocal });
    const until = h('input', { id: 'a-until', name: 'until', type: 'datetime-local', value: untilLocal });
    const form = h('form', { class: 'card filters', role: 'search', 'aria-label': t('school.audit.filter') },
      h('div', { class: 'field' }, h('label', { for: 'a-actor' }, t('school.audit.actor')), actor),
      h('div', { class: 'field' }, h('label', { for: 'a-action' }, t('school.audit.action')), actionIn,
        h('datalist', { id: 'a-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
        h('span', { id: 'a-action-help', class: 'muted small' }, t('school.audit.actionHelp'))),
      h('div', { class: 'field' }, h('label', { for: 'a-target' }, t('school.audit.target')), target),
      h('div', { class: 'field' }, h('label', { for: 'a-since' }, t('school.audit.since', { zone: zone() })), since),
      h('div', { class: 'field' }, h('label', { for: 'a-until' }, t('school.audit.until', { zone: zone() })), until),
      h('p', { id: 'a-window-error', class: 'error-text', role: 'alert' }),
      h('p', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, t('school.audit.show')),
        h('a', { class: 'button', href: '#/office/audit' }, t('school.audit.clear'))));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const windowError = form.querySelector('#a-window-error');
      if (since.value && until.value && new Date(until.value) <= new Date(since.value)) {
        windowError.textContent = t('school.audit.untilBeforeSince');
        until.focus();
        return;
      }
      windowError.textContent = '';
      const p = new URLSearchParams();
      if (actor.value) p.set('actor', actor.value);
      if (actionIn.value.trim()) p.set('action', actionIn.value.trim());
      if (target.value.trim()) p.set('target', target.value.trim());
      if (since.value) p.set('since', since.value);
      if (until.value) p.set('until', until.value);
      const next = `#/office/audit${[...p].length ? `?${p}` : ''}`;
      if (location.hash === next) navigate(); else location.hash = next;
    });

    const rows = entries.map((e) => h('tr', {},
      h('td', { 'data-label': t('school.audit.when') }, timeEl(e.at)),
      h('td', { 'data-label': t('school.audit.who') }, e.actor_id
        ? filterLink('actor', e.actor_id, nameOf(e.actor_id) || e.actor_id)
        : h('span', { class: 'muted' }, t('school.audit.system'))),
      h('td', { 'data-label': t('school.audit.what') }, filterLink('action', e.action, h('code', {}, e.action))),
      h('td', { 'data-label': t('school.audit.about') }, e.target
        ? filterLink('target', e.target, nameOf(e.target) || h('code', { class: 'wrap' }, e.target)) : '–'),
      h('td', { 'data-label': t('school.audit.detail'), class: 'wrap' }, e.detail || '')));
    const pageLink = (o) => {
      const p = new URLSearchParams(q);
      if (o) p.set('offset', String(o)); else p.delete('offset');
      return `#/office/audit${[...p].length ? `?${p}` : ''}`;
    };
    render(
      backTo('#/office', 'school.back.office'),
      h('h1', {}, t('school.audit.title')),
      form,
      entries.length
        ? h('table', { class: 'stack', id: 'audit' },
          h('caption', {}, t('school.audit.caption', { zone: zone() })),
          h('thead', {}, h('tr', {}, ['when', 'who', 'what', 'about', 'detail'].map((k) => h('th', { scope: 'col' }, t(`school.audit.${k}`))))),
          h('tbody', {}, rows))
        : h('p', { class: 'muted' }, t('school.audit.none')),
      h('p', { class: 'row' },
        offset > 0 ? h('a', { class: 'button', href: pageLink(Math.max(0, offset - PAGE)) }, t('school.page.newer')) : null,
        more ? h('a', { class: 'button', href: pageLink(offset + PAGE) }, t('school.page.older')) : null));
  });

  // -------------------------------------------------------------------------------------------
  // Subjects, their teachers and rosters (administrators)

  route('/office/subjects', async () => {
    if (!onlyFor('admin', 'school.subjects.title')) return;
    const [subjects, teachers] = await Promise.all([api('GET', '/api/subjects'), allUsers('teacher')]);
    const details = await Promise.all(subjects.map((s) => api('GET', `/api/subjects/${s.id}`)));
    const teacherById = Object.fromEntries(teachers.map((u) => [u.user_id, u]));
    const sorted = details.sort((a, b) => a.name.localeCompare(b.name));
    render(
      backTo('#/office', 'school.back.office'),
      h('h1', {}, t('school.subjects.title')),
      sorted.length
        ? h('table', { class: 'stack', id: 'subjects' },
          h('caption', {}, tn('school.subjects.count', sorted.length)),
          h('thead', {}, h('tr', {}, ['subject', 'code', 'teachers', 'students'].map((k) => h('th', { scope: 'col' }, t(`school.subjects.${k}`))))),
          h('tbody', {}, sorted.map((s) => h('tr', {},
            h('th', { scope: 'row', 'data-label': t('school.subjects.subject') }, h('a', { href: `#/office/subject/${s.id}` }, s.name)),
            h('td', { 'data-label': t('school.subjects.code') }, s.code),
            h('td', { 'data-label': t('school.subjects.teachers') }, s.teacher_ids.length
              ? s.teacher_ids.map((id) => (teacherById[id] ? teacherById[id].name : id)).join(', ')
              : h('span', { class: 'badge warn' }, t('school.subjects.noTeacher'))),
            h('td', { 'data-label': t('school.subjects.students') }, String(s.student_count))))))
        : h('p', {}, t('school.subjects.none')));
  });

  route('/office/subject/([0-9a-f]{24})', async (id) => {
    if (!onlyFor('admin', 'school.subjects.title')) return;
    const [teachers, all] = await Promise.all([allUsers('teacher'), api('GET', '/api/subjects')]);
    const teacherById = Object.fromEntries(teachers.map((u) => [u.user_id, u]));
    const others = all.filter((s) => s.id !== id).sort((a, b) => a.name.localeCompare(b.name));
    const subjectName = (sid) => { const s = all.find((x) => x.id === sid); return s ? `${s.name} (${s.code})` : sid; };

    const teacherErr = errBox();
    const moveOut = h('div', { id: 'move-result' });
    const teacherCard = h('section', { class: 'card', 'aria-labelledby': 'teachers-title' });
    const rosterCard = h('section', { class: 'card', 'aria-labelledby': 'roster-title' });
    let subject;

    const drawTeachers = () => {
      const ids = subject.teacher_ids;
      const email = h('input', { id: 't-email', type: 'email', required: true, list: 't-emails', autocomplete: 'off' });
      const form = h('form', { class: 'inline-form' },
        h('h3', {}, t('school.subject.addTeacher')),
        h('label', { for: 't-email' }, t('school.subject.teacherEmail')), email,
        h('datalist', { id: 't-emails' }, teachers.filter((u) => !ids.includes(u.user_id)).map((u) => h('option', { value: u.email }, u.name))),
        h('button', { type: 'submit' }, t('school.subject.addTeacherButton')));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        teacherErr.textContent = '';
        const button = form.querySelector('button');
        button.disabled = true;
        try {
          subject = await api('POST', `/api/subjects/${id}/teachers`, { email: email.value.trim() });
          const who = teachers.find((u) => u.email.toLowerCase() === email.value.trim().toLowerCase());
          drawTeachers();
          notice(t('school.subject.teacherAdded', { name: who ? who.name : email.value.trim() }));
          document.getElementById('t-email').focus();
        } catch (e) {
          if (e instanceof Stale) return;
          teacherErr.textContent = t('school.subject.teacherNotAdded', { detail: detailOf(e) });
          button.disabled = false;
        }
      });
      teacherCard.replaceChildren(
        h('h2', { id: 'teachers-title' }, tn('school.subject.teachers', ids.length)),
        ids.length ? h('ul', { class: 'plain', id: 'teachers' }, ids.map((tid) => {
          const u = teacherById[tid];
          const name = u ? u.name : tid;
          return h('li', { class: 'row' }, h('span', {}, name, u ? h('span', { class: 'muted' }, ` ${u.email}`) : null),
            action(t('school.subject.removeTeacher'), async () => {
              teacherErr.textContent = '';
              if (ids.length === 1 && !window.confirm(t('school.subject.removeLast', { name }))) return;
              try {
                subject = await api('DELETE', `/api/subjects/${id}/teachers/${tid}`);
              } catch (e) {
                if (e instanceof Stale) throw e;
                teacherErr.textContent = t('school.subject.teacherNotRemoved', { name, detail: detailOf(e) });
                return;
              }
              drawTeachers();
              notice(t('school.subject.teacherRemoved', { name }));
              document.getElementById('t-email').focus();
            }, { class: 'small', 'aria-label': t('school.subject.removeTeacherNamed', { name }) }));
        })) : h('p', { class: 'badge warn' }, t('school.subjects.noTeacher')),
        teacherErr, form);
    };

    const drawRoster = (roster) => {
      const boxes = [];
      const allBox = h('input', { type: 'checkbox', id: 'r-all' });
      const rows = roster.map((st) => {
        const box = h('input', { type: 'checkbox', id: `r-${st.student_id}`, value: st.student_id, 'aria-label': t('school.subject.select', { name: st.name }) });
        boxes.push(box);
        return h('tr', {},
          h('td', { class: 'pick' }, box),
          h('th', { scope: 'row', 'data-label': t('school.subject.name') }, st.name,
            st.verified ? null : h('span', { class: 'badge' }, t('school.subject.notApproved'))),
          h('td', { 'data-label': t('school.subject.email'), class: 'wrap' }, st.email),
          h('td', { 'data-label': t('school.subject.roll') }, st.roll || '–'),
          h('td', { 'data-label': t('school.subject.faces') }, String(st.face_samples)));
      });
      allBox.addEventListener('change', () => boxes.forEach((b) => { b.checked = allBox.checked; }));
      const target = h('select', { id: 'm-target', required: true },
        h('option', { value: '' }, t('school.subject.chooseTarget')),
        others.map((s) => h('option', { value: s.id }, `${s.name} (${s.code})`)));
      const move = action(t('school.subject.move'), async () => {
        const ids = boxes.filter((b) => b.checked).map((b) => b.value);
        moveOut.replaceChildren();
        if (!ids.length) { moveOut.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, t('school.subject.moveNone'))); return; }
        if (!target.value) { moveOut.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, t('school.subject.moveNoTarget'))); target.focus(); return; }
        const to = subjectName(target.value);
        const nameOf = (sid) => (roster.find((r) => r.student_id === sid) || { name: sid }).name;
        // First into the new subject (one request: all or none), then out of this one, one by one.
        try {
          await api('POST', `/api/subjects/${target.value}/students`, { student_ids: ids });
        } catch (e) {
          if (e instanceof Stale) throw e;
          moveOut.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, t('school.subject.moveAddFailed', { subject: to, detail: detailOf(e) })));
          return;
        }
        const failed = [];
        for (const sid of ids) {
          try { await api('DELETE', `/api/subjects/${id}/students/${sid}`); } catch (e) {
            if (e instanceof Stale) throw e;
            failed.push({ sid, detail: detailOf(e) });
          }
        }
        await load();
        // The button was drawn again: the outcome takes the focus, so it is read and the keyboard
        // goes on from there.
        const say = (el) => { el.setAttribute('tabindex', '-1'); moveOut.replaceChildren(el); el.focus(); };
        if (!failed.length) {
          say(h('p', { class: 'good-text', role: 'status' }, tn('school.subject.moved', ids.length, { subject: to })));
        } else {
          say(h('div', { class: 'card warn-card', role: 'alert' },
            h('p', {}, t('school.subject.movedPartly', { moved: ids.length - failed.length, total: ids.length, subject: to })),
            h('ul', {}, failed.map((f) => h('li', {}, t('school.subject.stillHere', { name: nameOf(f.sid), detail: f.detail }))))));
        }
      }, { class: 'primary', id: 'm-go' });
      rosterCard.replaceChildren(
        h('h2', { id: 'roster-title' }, tn('school.subject.students', roster.length)),
        roster.length ? h('div', {},
          h('table', { class: 'stack', id: 'roster' },
            h('thead', {}, h('tr', {},
              h('th', { scope: 'col', class: 'pick' }, h('label', { class: 'check', for: 'r-all' }, allBox, h('span', { class: 'sr-only' }, t('school.subject.selectAll')))),
              ['name', 'email', 'roll', 'faces'].map((k) => h('th', { scope: 'col' }, t(`school.subject.${k}`))))),
            h('tbody', {}, rows)),
          h('div', { class: 'move', role: 'group', 'aria-labelledby': 'move-title' },
            h('h3', { id: 'move-title' }, t('school.subject.moveTitle')),
            others.length ? [h('label', { for: 'm-target' }, t('school.subject.moveTo')), target, h('p', {}, move)]
              : h('p', { class: 'muted' }, t('school.subject.noOther'))))
          : h('p', { class: 'muted' }, t('school.subject.noStudents')),
        moveOut);
    };

    const load = async () => {
      const [s, roster] = await Promise.all([api('GET', `/api/subjects/${id}`), api('GET', `/api/subjects/${id}/students`)]);
      subject = s;
      drawTeachers();
      drawRoster(roster);
    };
    await load();
    render(
      backTo('#/office/subjects', 'school.subjects.title'),
      h('h1', {}, `${subject.name} `, h('span', { class: 'muted' }, subject.code)),
      h('p', { class: 'row' },
        h('a', { class: 'button', href: `#/subject/${id}` }, t('school.subject.classPage')),
        h('a', { class: 'button', href: `#/office/audit?target=${id}` }, t('school.subject.audit'))),
      teacherCard, rosterCard);
  });

  // -------------------------------------------------------------------------------------------
  // The teacher's timetable, holidays and exam days (GET/PUT /api/settings, `schedule`)

  const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
  /// The weekday's name in the reader's language (1 January 2024 was a Monday).
  const dayName = (i, inSentence) => {
    const n = new Intl.DateTimeFormat(lang(), { weekday: 'long' }).format(new Date(2024, 0, 1 + i));
    return inSentence ? n : n.charAt(0).toUpperCase() + n.slice(1);
  };
  let rowSeq = 0;

  route('/timetable', async () => {
    if (!onlyFor('teacher', 'school.tt.title')) return;
    const settings = await api('GET', '/api/settings');
    const stored = settings.schedule && typeof settings.schedule === 'object' ? settings.schedule : {};
    const subjects = settings.subjects;
    // The editable copy: per weekday the periods; the stored objects are kept so that fields
    // this page does not edit (room, tracked, notes, overrides...) are sent back unchanged.
    const days = WEEKDAYS.map(() => []);
    for (const d of Array.isArray(stored.timetable) ? stored.timetable : []) {
      const i = WEEKDAYS.findIndex((w) => w.toLowerCase() === String(d.day || '').trim().toLowerCase());
      if (i < 0) continue;
      for (const p of d.periods || []) {
        days[i].push({ key: ++rowSeq, orig: p, slot: p.slot, start: p.start || '', end: p.end || '',
          subject: (p.metadata && p.metadata.subject_id) || '' });
      }
    }
    const holidays = (Array.isArray(stored.holidays) ? stored.holidays : []).map((x) => ({
      key: ++rowSeq, orig: x, from: x.date || x.from || '', to: x.date ? '' : (x.to || ''), name: x.name || '' }));
    const exams = (Array.isArray(stored.exams) ? stored.exams : []).map((x) => ({ key: ++rowSeq, orig: x, date: x.date || '', name: x.name || '' }));

    const err = h('div', { id: 'tt-error', class: 'error-text', role: 'alert' });
    const grid = h('div', { class: 'week' });
    const holidayList = h('div', {});
    const examList = h('div', {});
    const field = (id, labelText, input) => h('div', { class: 'field' }, h('label', { for: id }, labelText), input);
    const bind = (input, obj, k) => { input.addEventListener('input', () => { obj[k] = input.value; }); return input; };

    const drawDay = (i, focusKey) => {
      const list = days[i];
      const box = grid.querySelector(`[data-day="${i}"]`);
      const rows = list.map((p, n) => {
        const id = `p${p.key}`;
        const label = t('school.tt.periodOf', { n: n + 1, day: dayName(i, true) });
        const subject = bind(h('select', { id: `${id}-subject` },
          h('option', { value: '' }, t('school.tt.noSubject')),
          subjects.map((s) => h('option', { value: s._id, selected: s._id === p.subject }, `${s.name} (${s.code})`)),
          // A subject the teacher no longer teaches stays visible (the server will name it).
          p.subject && !subjects.some((s) => s._id === p.subject) ? h('option', { value: p.subject, selected: true }, p.subject) : null), p, 'subject');
        return h('li', { class: 'period', role: 'group', 'aria-label': label },
          field(`${id}-slot`, t('school.tt.slot'), bind(h('input', { id: `${id}-slot`, type: 'number', min: 0, max: 99, inputmode: 'numeric', value: p.slot ?? '', class: 'slot' }), p, 'slot')),
          field(`${id}-start`, t('school.tt.start'), bind(h('input', { id: `${id}-start`, type: 'time', value: p.start, required: true }), p, 'start')),
          field(`${id}-end`, t('school.tt.end'), bind(h('input', { id: `${id}-end`, type: 'time', value: p.end, required: true }), p, 'end')),
          field(`${id}-subject`, t('school.tt.subject'), subject),
          h('button', { type: 'button', class: 'small remove', 'aria-label': t('school.tt.removeNamed', { what: label }),
            onclick: () => { list.splice(list.indexOf(p), 1); drawDay(i); box.querySelector('button.add').focus(); } }, t('school.tt.remove')));
      });
      box.replaceChildren(
        h('legend', {}, dayName(i)),
        list.length ? h('ol', { class: 'plain periods' }, rows) : h('p', { class: 'muted' }, t('school.tt.free')),
        h('button', { type: 'button', class: 'small add', 'aria-label': t('school.tt.addTo', { day: dayName(i, true) }),
          onclick: () => {
            // The next period: after the day's last one, the same length, the next number.
            const last = list[list.length - 1];
            const next = { key: ++rowSeq, orig: null, slot: list.reduce((m, x) => Math.max(m, Number(x.slot) || 0), 0) + 1,
              start: last ? last.end : '08:00', end: last ? addMinutes(last.end, minutesBetween(last.start, last.end)) : '09:00',
              subject: last ? last.subject : '' };
            list.push(next);
            drawDay(i, next.key);
          } }, t('school.tt.add')));
      if (focusKey) { const el = document.getElementById(`p${focusKey}-start`); if (el) el.focus(); }
    };
    const drawDated = (container, items, kind, focusKey) => {
      const rows = items.map((x, n) => {
        const id = `${kind}${x.key}`;
        const label = t(`school.tt.${kind}Of`, { n: n + 1 });
        const fields = kind === 'holiday'
          ? [field(`${id}-from`, t('school.tt.from'), bind(h('input', { id: `${id}-from`, type: 'date', value: x.from, required: true }), x, 'from')),
            field(`${id}-to`, t('school.tt.to'), bind(h('input', { id: `${id}-to`, type: 'date', value: x.to, 'aria-describedby': 'to-help' }), x, 'to'))]
          : [field(`${id}-date`, t('school.tt.date'), bind(h('input', { id: `${id}-date`, type: 'date', value: x.date, required: true }), x, 'date'))];
        return h('li', { class: 'period dated', role: 'group', 'aria-label': label }, fields,
          field(`${id}-name`, t('school.tt.name'), bind(h('input', { id: `${id}-name`, value: x.name, maxlength: 200 }), x, 'name')),
          x.orig && kind === 'exam' && Array.isArray(x.orig.periods) && x.orig.periods.length
            ? h('p', { class: 'muted small' }, tn('school.tt.examPeriods', x.orig.periods.length)) : null,
          h('button', { type: 'button', class: 'small remove', 'aria-label': t('school.tt.removeNamed', { what: label }),
            onclick: () => { items.splice(items.indexOf(x), 1); drawDated(container, items, kind); container.querySelector('button.add').focus(); } },
          t('school.tt.remove')));
      });
      container.replaceChildren(
        items.length ? h('ol', { class: 'plain periods' }, rows) : h('p', { class: 'muted' }, t(`school.tt.no.${kind}`)),
        h('button', { type: 'button', class: 'small add', onclick: () => {
          const x = kind === 'holiday' ? { key: ++rowSeq, orig: null, from: '', to: '', name: '' } : { key: ++rowSeq, orig: null, date: '', name: '' };
          items.push(x);
          drawDated(container, items, kind, x.key);
        } }, t(`school.tt.add.${kind}`)));
      if (focusKey) { const el = document.getElementById(`${kind}${focusKey}-${kind === 'holiday' ? 'from' : 'date'}`); if (el) el.focus(); }
    };

    /// The schedule to store: the stored object with timetable, holidays and exams replaced.
    const build = () => {
      const timetable = [];
      days.forEach((list, i) => {
        if (!list.length) return;
        timetable.push({ day: WEEKDAYS[i], periods: list.map((p) => {
          const out = { ...(p.orig || {}), slot: p.slot === '' || p.slot === null ? p.slot : Number(p.slot), start: p.start, end: p.end };
          const meta = { ...((p.orig && p.orig.metadata) || {}) };
          const s = subjects.find((x) => x._id === p.subject);
          if (p.subject) { meta.subject_id = p.subject; if (s) meta.subject_name = s.name; } else { delete meta.subject_id; delete meta.subject_name; }
          if (Object.keys(meta).length) out.metadata = meta; else delete out.metadata;
          return out;
        }) });
      });
      const hol = holidays.map((x) => {
        const out = { ...(x.orig || {}) };
        delete out.date; delete out.from; delete out.to;
        if (!x.to || x.to === x.from) out.date = x.from; else { out.from = x.from; out.to = x.to; }
        out.name = x.name.trim();
        return out;
      });
      const ex = exams.map((x) => ({ ...(x.orig || {}), date: x.date, name: x.name.trim() }));
      return { ...stored, timetable, holidays: hol, exams: ex };
    };

    const save = h('button', { type: 'submit', class: 'primary', id: 'tt-save' }, t('school.tt.save'));
    const form = h('form', { class: 'timetable', 'aria-describedby': 'tt-error', novalidate: true },
      h('section', { class: 'card', 'aria-labelledby': 'week-title' },
        h('h2', { id: 'week-title' }, t('school.tt.week')),
        h('p', { class: 'muted' }, t('school.tt.weekHelp')),
        stored.recurring && Array.isArray(stored.recurring.weekly) && stored.recurring.weekly.length
          ? h('p', { class: 'muted' }, t('school.tt.recurringKept')) : null,
        grid),
      h('div', { class: 'two' },
        h('section', { class: 'card', 'aria-labelledby': 'hol-title' },
          h('h2', { id: 'hol-title' }, t('school.tt.holidays')),
          h('p', { class: 'muted', id: 'to-help' }, t('school.tt.holidaysHelp')),
          holidayList),
        h('section', { class: 'card', 'aria-labelledby': 'exam-title' },
          h('h2', { id: 'exam-title' }, t('school.tt.exams')),
          h('p', { class: 'muted' }, t('school.tt.examsHelp')),
          examList)),
      err,
      h('p', { class: 'row' }, save));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      save.disabled = true;
      save.setAttribute('aria-busy', 'true');
      try {
        await api('PUT', '/api/settings', { schedule: build() });
        notice(t('school.tt.saved'));
      } catch (e) {
        if (e instanceof Stale) return;
        err.replaceChildren(h('strong', {}, t('school.tt.notSaved')), ' ', detailOf(e));
      } finally {
        save.disabled = false;
        save.removeAttribute('aria-busy');
      }
    });
    for (let i = 0; i < 7; i += 1) grid.append(h('fieldset', { class: 'day', 'data-day': i }));
    render(
      h('h1', {}, t('school.tt.title')),
      h('p', { class: 'muted' }, t('school.tt.intro')),
      form);
    for (let i = 0; i < 7; i += 1) drawDay(i);
    drawDated(holidayList, holidays, 'holiday');
    drawDated(examList, exams, 'exam');
  });

  const minutesOf = (hm) => { const m = /^(\d{2}):(\d{2})$/.exec(hm || ''); return m ? Number(m[1]) * 60 + Number(m[2]) : null; };
  const minutesBetween = (a, b) => { const x = minutesOf(a); const y = minutesOf(b); return x !== null && y !== null && y > x ? y - x : 60; };
  const addMinutes = (hm, n) => {
    const x = minutesOf(hm);
    if (x === null) return '';
    const y = Math.min(23 * 60 + 59, x + n);
    return `${String(Math.floor(y / 60)).padStart(2, '0')}:${String(y % 60).padStart(2, '0')}`;
  };

  // -------------------------------------------------------------------------------------------
  // A student's own face photos

  route('/my-photos', async () => {
    if (!onlyFor('student', 'school.photos.title')) return;
    const me = session();
    const st = await api('GET', `/api/students/${me.user_id}`);
    const gallery = h('section', { class: 'card', 'aria-labelledby': 'gallery-title' });
    let urls = [];
    onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));
    const drawGallery = async () => {
      const samples = await api('GET', `/api/students/${me.user_id}/faces`);
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls = [];
      gallery.replaceChildren(
        h('h2', { id: 'gallery-title' }, tn('school.photos.count', samples.length)),
        samples.length ? h('ul', { class: 'thumbs' }, samples.map((x, i) => {
          const img = h('img', { alt: t('school.photos.alt', { n: i + 1, date: fmtTime(x.created_at) }) });
          imageUrl(x.image_url).then((u) => { urls.push(u); img.src = u; }).catch(() => {});
          return h('li', {}, img,
            x.approved ? h('span', { class: 'badge good' }, t('school.photos.inUse'))
              : h('span', { class: 'badge warn' }, t('school.photos.waiting')),
            action(t('school.photos.delete'), async () => {
              await api('DELETE', `/api/students/${me.user_id}/faces/${x.id}`);
              await drawGallery();
              notice(t('school.photos.deleted', { n: i + 1 }));
              const first = gallery.querySelector('button') || document.getElementById('my-face');
              if (first) first.focus();
            }, { class: 'small', 'aria-label': t('school.photos.deleteNamed', { n: i + 1 }) }));
        })) : h('p', { class: 'muted' }, t('school.photos.none')));
    };
    await drawGallery();
    const consent = st.consent_at
      ? h('p', { class: 'row', id: 'consent-state' }, h('span', { class: 'badge good' }, t('school.photos.consentGiven')),
        h('span', {}, t('school.photos.consentOn', { date: fmtDate(st.consent_at) })),
        h('a', { href: '#/consent' }, t('school.photos.consentPage')))
      : h('div', { class: 'card warn-card', id: 'consent-state' },
        h('p', {}, h('span', { class: 'badge warn' }, t('school.photos.consentMissing')), ' ', t('school.photos.consentNeeded')),
        h('p', {}, h('a', { href: '#/consent' }, t('school.photos.consentLink'))));
    const results = h('div', { 'aria-live': 'polite', id: 'upload-result' });
    const file = h('input', { id: 'my-face', type: 'file', accept: 'image/jpeg,image/png,image/webp', required: true, 'aria-describedby': 'my-face-help' });
    const form = h('form', { class: 'card' },
      h('h2', {}, t('school.photos.upload')),
      h('p', { class: 'muted', id: 'my-face-help' }, t('school.photos.uploadHelp')),
      h('label', { for: 'my-face' }, t('school.photos.file')), file,
      h('button', { type: 'submit', class: 'primary' }, t('school.photos.uploadButton')),
      results);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      results.replaceChildren();
      const f = file.files[0];
      if (!f) { results.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, t('school.photos.choose'))); file.focus(); return; }
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      const body = new FormData();
      body.append('file', f, f.name);
      try {
        const r = await api('POST', '/api/students/upload-face', body);
        file.value = '';
        await drawGallery();
        results.replaceChildren(h('p', { class: 'good-text', role: 'status' },
          r.pending_review ? t('school.photos.uploadedPending') : t('school.photos.uploaded')));
      } catch (e) {
        if (e instanceof Stale) return;
        // Refused without consent (403): the API's words, and the way to the consent page.
        results.replaceChildren(h('div', { class: 'error-text', role: 'alert' },
          h('p', {}, t('school.photos.notUploaded', { detail: detailOf(e) })),
          !st.consent_at || (e instanceof ApiError && e.status === 403 && /consent/i.test(e.message))
            ? h('p', {}, h('a', { href: '#/consent' }, t('school.photos.consentLink'))) : null));
      } finally { button.disabled = false; }
    });
    render(
      h('h1', {}, t('school.photos.title')),
      h('p', { class: 'muted' }, t('school.photos.intro')),
      consent,
      form,
      gallery);
  });

  addNavLink(['teacher'], '#/timetable', 'nav.timetable');
  addNavLink(['student'], '#/my-photos', 'nav.myPhotos');
})();
