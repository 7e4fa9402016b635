// English: the page's words (teacher and student pages, and what every page shares).
// To translate: copy this file (and en.office.js) to <lang>.js, change the language code and
// name in the first line, translate the values, and add the files to index.html and
// src/api/web.rs (docs/web.md). `{name}` is filled in by the page; keep it.
I18N.add('en', 'English', {
  'lang.label': 'Language',
  'nav.subjects': 'Subjects',
  'nav.analytics': 'Analytics',
  'nav.mine': 'My attendance',
  'nav.logout': 'Log out',
  'nav.who': '{name} ({role})',
  'role.admin': 'administrator',
  'role.teacher': 'teacher',
  'role.student': 'student',
});
