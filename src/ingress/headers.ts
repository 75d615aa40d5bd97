// Which headers the ingress passes on, shared by its two client-side paths (the
// fast front end in front.ts and node:http) and the upstream response parser.

/** Hop-by-hop headers are never forwarded (RFC 9110 7.6.1). Lower-case. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/**
 * Client request headers not forwarded (name lower-cased): hop-by-hop ones, and
 * X-Forwarded-* / X-Real-IP, which the ingress sets itself (as ingress-nginx does by
 * default: it is the edge, so what clients claim there is replaced).
 */
export function droppedFromRequest(k: string): boolean {
  return HOP_BY_HOP.has(k) || k === 'x-real-ip' || k.startsWith('x-forwarded-');
}

/** The headers the ingress adds for the backend, as one block of header lines. */
export function forwardedLines(clientIp: string, secure: boolean, localPort: number): { before: string; after: string } {
  // Split around X-Forwarded-Host, the one that changes per request.
  return {
    before: `X-Forwarded-For: ${clientIp}\r\nX-Real-IP: ${clientIp}\r\nX-Forwarded-Proto: ${secure ? 'https' : 'http'}\r\nX-Forwarded-Host: `,
    after: `\r\nX-Forwarded-Port: ${localPort}\r\n`,
  };
}

/**
 * A well-formed header line (RFC 9112 5): a token, the colon right after it, a value of
 * visible characters, spaces, tabs and obs-text, nothing else: no control characters,
 * no CR or LF (so no line hidden inside another), no whitespace before the colon.
 */
export const HEADER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
