/**
 * @module http/headers
 * The security headers of every response of the API, routed or not (http/server.ts puts them
 * on each request; http/errors.ts on what the router and Node's parser refuse).
 */

/**
 * On every response: the pages (the live page, /docs) load only this server's files, cannot be
 * framed, types are not sniffed and no URL leaks to another site in a Referer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
});
