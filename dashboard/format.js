// Formatting helpers: relative and absolute times, short browser names.

const numberFormat = new Intl.NumberFormat();
const absoluteFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatCount(n) {
  return numberFormat.format(n);
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatRelative(ms, now) {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** "850 ms", "42 s", "5 min 3 s", "2 h 10 min"; "—" when unknown. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export function formatAbsolute(ms) {
  return absoluteFormat.format(ms);
}

// Thousands of rows usually share a handful of user agents: parse each once.
// Bounded so that hostile, ever-changing user agents cannot grow it forever.
const browserCache = new Map();
const BROWSER_CACHE_MAX = 2000;

/** A short "Chrome 120 · Windows" style name for a user-agent string. */
export function shortBrowser(ua) {
  if (!ua) return '—';
  let name = browserCache.get(ua);
  if (name === undefined) {
    name = parseBrowser(ua);
    if (browserCache.size >= BROWSER_CACHE_MAX) browserCache.clear();
    browserCache.set(ua, name);
  }
  return name;
}

const BROWSERS = [
  [/\bEdgA?\/(\d+)/, 'Edge'],
  [/\bOPR\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung'],
  [/\bFirefox\/(\d+)/, 'Firefox'],
  [/\bFxiOS\/(\d+)/, 'Firefox'],
  [/\bCriOS\/(\d+)/, 'Chrome'],
  [/\bHeadlessChrome\/(\d+)/, 'Headless Chrome'],
  [/\bChrome\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
  [/^curl\/(\d+)/, 'curl'],
  [/^Dart\/(\d+)/, 'Dart'],
  [/^okhttp\/(\d+)/, 'OkHttp'],
  [/^python-\w+\/(\d+)/i, 'Python'],
  [/^Go-http-client\/(\d+)/, 'Go'],
  [/\bnode(?:\.js)?\/v?(\d+)/i, 'Node.js'],
];

const SYSTEMS = [
  [/\bWindows NT\b/, 'Windows'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bMac OS X\b/, 'macOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

function parseBrowser(ua) {
  let browser;
  for (const [pattern, label] of BROWSERS) {
    const match = pattern.exec(ua);
    if (match) {
      browser = `${label} ${match[1]}`;
      break;
    }
  }
  // Unknown agents: the first product token ("MyApp/1.2 (…)" → "MyApp/1.2").
  if (browser === undefined) browser = ua.split(/[\s(]/, 1)[0].slice(0, 24) || '—';
  for (const [pattern, label] of SYSTEMS) {
    if (pattern.test(ua)) return `${browser} · ${label}`;
  }
  return browser;
}
