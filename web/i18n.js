// The page's words. Every string the page shows is looked up by key in `web/i18n/<lang>.js`
// (and `<lang>.office.js` for the office pages), so a school translates the page by copying the
// English files and translating the values; nothing else changes (docs/web.md). Loaded before
// the page's scripts; `t` and `tn` are the only way pages put words on screen.
'use strict';

const I18N = {
  /// lang -> { key: text }
  strings: {},
  /// lang -> the language's own name, for the switcher ("English", "Français").
  names: {},
  /// Keys asked for that the chosen language (or English) lacks; the browser test checks it stays empty.
  missing: new Set(),
  add(lang, name, dict) {
    this.names[lang] = name;
    this.strings[lang] = Object.assign(this.strings[lang] || {}, dict);
  },
};

const LANG_KEY = 'rollcall.lang';

/// The chosen language: the one picked in the switcher, else the browser's first we have, else English.
function currentLang() {
  let picked = null;
  try { picked = localStorage.getItem(LANG_KEY); } catch { /* storage off */ }
  if (picked && I18N.strings[picked]) return picked;
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (I18N.strings[base]) return base;
  }
  return 'en';
}

function setLang(lang) {
  try { localStorage.setItem(LANG_KEY, lang); } catch { /* storage off: this page only */ }
  document.documentElement.lang = lang;
}

/// The text of `key` in the chosen language (English where it has none), with `{name}` filled
/// from `vars`. A key no language has is shown as itself and recorded in `I18N.missing`.
function t(key, vars) {
  const lang = currentLang();
  let text = (I18N.strings[lang] || {})[key];
  if (text === undefined) {
    text = (I18N.strings.en || {})[key];
    if (text === undefined || lang !== 'en') I18N.missing.add(`${lang}:${key}`);
    if (text === undefined) text = key;
  }
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
}

/// `t` for a count: `key.one`, `key.other` (and whatever plural forms the language has, e.g.
/// `key.few`), chosen by the language's plural rules; `{n}` is the count.
function tn(key, n, vars) {
  const lang = currentLang();
  const form = new Intl.PluralRules(lang).select(n);
  const dict = I18N.strings[lang] || {};
  const k = dict[`${key}.${form}`] !== undefined || (I18N.strings.en || {})[`${key}.${form}`] !== undefined
    ? `${key}.${form}` : `${key}.other`;
  return t(k, { n, ...vars });
}

/// Numbers and dates in the chosen language's way.
/// `fmtPct(87.5)` is "87.5%" in English, "87,5 %" in French; null is a dash.
const fmtPct = (x) => (x === null || x === undefined ? '–'
  : new Intl.NumberFormat(currentLang(), { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(Number(x) / 100));
