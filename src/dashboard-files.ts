/**
 * Serves the admin dashboard: static files shipped in the package's
 * dashboard/ folder, read once and held in memory. The set of files is
 * fixed at start, so no request path ever reaches the file system.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/dashboard-files.js → dashboard/ at the package root */
export const DASHBOARD_FOLDER = fileURLToPath(new URL('../../dashboard', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

export type DashboardFile = { body: Buffer; type: string };
export type DashboardFiles = ReadonlyMap<string, DashboardFile>;

/** Read every servable file once; each tracker keeps its own copy. */
export function loadDashboardFiles(folder: string = DASHBOARD_FOLDER): DashboardFiles {
  const loaded = new Map<string, DashboardFile>();
  let names: string[] = [];
  try {
    names = readdirSync(folder);
  } catch {
    return loaded; // no dashboard shipped: /admin answers 404
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type !== undefined) loaded.set('/' + name, { body: readFileSync(join(folder, name)), type });
  }
  return loaded;
}

/** `subpath` is what follows /admin: '' or '/' for the page, '/app.js' etc.; undefined if not shipped. */
export function dashboardFile(files: DashboardFiles, subpath: string): DashboardFile | undefined {
  return files.get(subpath === '' || subpath === '/' ? '/index.html' : subpath);
}

/** Answer a GET or HEAD for one of the files. */
export function serveDashboardFile(file: DashboardFile, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}
