/**
 * @module server/security-headers
 * The headers every dashboard response carries. The browser app loads only its own files
 * (no inline style, no CDN; its one inline script, which must run before any relative URL
 * is fetched, runs by a nonce made for each page), so the policy allows nothing else; the page cannot be
 * framed (clickjacking of the action buttons), types are not sniffed, and no URL leaks in a
 * Referer to another site.
 */

/** The Content-Security-Policy of the dashboard; a page with an inline script passes its nonce. */
export function contentSecurityPolicy(scriptNonce?: string): string {
  return [
    "default-src 'none'",
    scriptNonce === undefined ? "script-src 'self'" : `script-src 'self' 'nonce-${scriptNonce}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Header name -> value, set on every response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': contentSecurityPolicy(),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
});
