// Which URLs onesheet fetches: only http(s), only on the page's own origin unless whoever
// embeds it says otherwise. The client checks its URLs with these rules before it starts a
// worker, and the worker checks them again before it fetches (it is what fetches), so both
// import them from here, and the worker never loads the client.

/** What relative URLs resolve against when no base is given: the document, or in a worker this library. */
function defaultBase() {
  return /** @type {{ document?: { baseURI: string } }} */ (globalThis).document?.baseURI ?? import.meta.url;
}

/**
 * `url` resolved against `base` (default: the document), as long as it may be fetched: an
 * http: or https: URL, on this page's origin unless `allowCrossOrigin`. Throws an Error that
 * says why not (for a person to read: `what` names the resource, e.g. 'the model').
 * @param {string | URL} url
 * @param {{ base?: string, allowCrossOrigin?: boolean, what?: string }} [options]
 * @returns {string}
 */
export function allowedUrl(url, { base, allowCrossOrigin = false, what = 'the file' } = {}) {
  let resolved;
  try {
    resolved = new URL(url, base ?? defaultBase());
  } catch {
    throw new Error(`${what} URL ${shorten(url)} is not a valid URL`);
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    throw new Error(`refused to load ${what} from ${shorten(url)}: only http: and https: URLs are allowed`);
  }
  const here = globalThis.location?.origin;
  if (!allowCrossOrigin && resolved.origin !== here) {
    throw new Error(
      `refused to load ${what} from ${resolved.origin}: only this site's own files (${here}) are allowed`,
    );
  }
  return resolved.href;
}

/**
 * `url` resolved against `base` (default: the document), allowed or not; unchanged when it
 * does not parse, for `allowedUrl` to refuse with a clear error.
 * @param {string | URL} url
 * @param {string} [base]
 * @returns {string}
 */
export function resolveUrl(url, base) {
  try {
    return new URL(url, base ?? defaultBase()).href;
  } catch {
    return String(url);
  }
}

/**
 * A URL for a message: a long one (a `data:` URL) cut short.
 * @param {unknown} url
 */
export function shorten(url) {
  const text = String(url);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}…` : text);
}
