// Image references normalized the way Docker (distribution/reference) does it:
//   nginx                -> docker.io/library/nginx:latest
//   user/app:1           -> docker.io/user/app:1
//   127.0.0.1:5000/x     -> 127.0.0.1:5000/x:latest
//   x@sha256:...         -> digest reference (no implied tag)

export interface ImageReference {
  /** Registry domain as named (docker.io for Docker Hub). */
  domain: string;
  /** Repository path, e.g. library/nginx. */
  path: string;
  tag?: string;
  digest?: string;
}

const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const PATH_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

export function parseReference(input: string): ImageReference {
  let rest = input.trim();
  if (!rest) throw new Error('invalid image reference: empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new Error(`invalid image reference "${input}": bad digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new Error(`invalid image reference "${input}": bad tag`);
  }
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!PATH_RE.test(path)) throw new Error(`invalid image reference "${input}": repository name must be lowercase`);
  if (!tag && !digest) tag = 'latest';
  return { domain, path, tag, digest };
}

/** `docker.io/library/nginx` */
export function repoName(r: ImageReference): string {
  return `${r.domain}/${r.path}`;
}

/** The fully qualified name: `repo:tag`, `repo@digest` or `repo:tag@digest`. */
export function formatReference(r: ImageReference): string {
  return `${repoName(r)}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** The host that serves the distribution API for a domain (Docker Hub's is registry-1.docker.io). */
export function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

/** Docker treats loopback registries as insecure (plain HTTP allowed). */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export function isImageId(s: string): boolean {
  return /^(sha256:)?[a-f0-9]{64}$/.test(s);
}
