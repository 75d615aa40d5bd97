// Image pulls as upstream's kubelet does them (pkg/kubelet/images/image_manager.go):
// imagePullPolicy decides whether to pull; failures back off per image (10 s doubling
// to 5 min) and surface as ErrImagePull, then ImagePullBackOff while backing off;
// imagePullSecrets (kubernetes.io/dockerconfigjson or dockercfg) give credentials.
import type { Container, Pod, Secret } from 'kubernetes-types/core/v1.js';
import type { AuthConfig, ImageService } from '../runtime/cri.js';
import { Backoff } from './backoff.js';

export class ImageError extends Error {
  constructor(readonly reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName', message: string, readonly retryInMs = 0) {
    super(message);
    this.name = 'ImageError';
  }
}

export interface ImageEvents {
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** Default policy (upstream defaulting): Always for :latest or no tag, else IfNotPresent. */
export function pullPolicy(c: Container): 'Always' | 'IfNotPresent' | 'Never' {
  if (c.imagePullPolicy) return c.imagePullPolicy as 'Always' | 'IfNotPresent' | 'Never';
  const img = c.image ?? '';
  if (img.includes('@')) return 'IfNotPresent';
  const last = img.split('/').pop() ?? '';
  return !last.includes(':') || last.endsWith(':latest') ? 'Always' : 'IfNotPresent';
}

/** The registry host of a reference as Docker normalizes it. */
export function registryHost(ref: string): string {
  const first = ref.split('/')[0]!;
  if (ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
  return 'docker.io';
}

function hostOfKey(k: string): string {
  return k.replace(/^https?:\/\//, '').split('/')[0]!.replace(/^index\.docker\.io$|^registry-1\.docker\.io$/, 'docker.io');
}

/** Credentials for `image` from the pod's pull secrets (first match wins, as upstream's keyring). */
export function authFromSecrets(image: string, secrets: Secret[]): AuthConfig | undefined {
  const host = registryHost(image);
  for (const s of secrets) {
    let auths: Record<string, { username?: string; password?: string; auth?: string; identitytoken?: string }> | undefined;
    try {
      if (s.type === 'kubernetes.io/dockerconfigjson' && s.data?.['.dockerconfigjson']) {
        auths = (JSON.parse(Buffer.from(s.data['.dockerconfigjson'], 'base64').toString('utf8')) as { auths?: typeof auths }).auths;
      } else if (s.type === 'kubernetes.io/dockercfg' && s.data?.['.dockercfg']) {
        auths = JSON.parse(Buffer.from(s.data['.dockercfg'], 'base64').toString('utf8')) as typeof auths;
      }
    } catch { continue; }
    for (const [k, a] of Object.entries(auths ?? {})) {
      if (hostOfKey(k) !== host) continue;
      let { username, password } = a;
      if (!username && a.auth) {
        const dec = Buffer.from(a.auth, 'base64').toString('utf8');
        const i = dec.indexOf(':');
        username = dec.slice(0, i);
        password = dec.slice(i + 1);
      }
      return { username, password, serverAddress: k, ...(a.identitytoken ? { identityToken: a.identitytoken } : {}) };
    }
  }
  return undefined;
}

export class ImageManager {
  readonly backoff = new Backoff();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(private readonly images: ImageService) {}

  /**
   * Makes sure the container's image is present; resolves to the image id.
   * Throws ImageError with the waiting reason and message upstream shows.
   */
  async ensure(pod: Pod, c: Container, secrets: Secret[], ev: ImageEvents): Promise<string> {
    const image = c.image ?? '';
    if (!image) throw new ImageError('InvalidImageName', 'Failed to apply default image tag "": couldn\'t parse image name "": invalid reference format');
    const policy = pullPolicy(c);
    const present = await this.images.imageStatus({ image });
    if (policy === 'Never' || (policy === 'IfNotPresent' && present)) {
      if (present) {
        ev.event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
        return present.id;
      }
      const msg = `Container image "${image}" is not present with pull policy of Never`;
      ev.event('Warning', 'ErrImageNeverPull', msg);
      throw new ImageError('ErrImageNeverPull', msg);
    }
    const key = `${pod.metadata?.uid}/${image}`;
    const lastFail = this.failures.get(key);
    if (lastFail !== undefined && this.backoff.isInBackOffSince(key, lastFail)) {
      const msg = `Back-off pulling image "${image}"`;
      ev.event('Normal', 'BackOff', msg);
      throw new ImageError('ImagePullBackOff', msg, this.backoff.remaining(key, lastFail) + 50);
    }
    ev.event('Normal', 'Pulling', `Pulling image "${image}"`);
    const t0 = Date.now();
    try {
      // One pull per image at a time; concurrent pods wait for it.
      let p = this.inflight.get(image);
      if (!p) {
        p = this.images.pullImage({ image }, authFromSecrets(image, secrets)).finally(() => this.inflight.delete(image));
        this.inflight.set(image, p);
      }
      const id = await p;
      this.failures.delete(key);
      this.backoff.reset(key);
      const st = await this.images.imageStatus({ image });
      const secs = ((Date.now() - t0) / 1000).toFixed(3);
      ev.event('Normal', 'Pulled', `Successfully pulled image "${image}" in ${secs}s (${secs}s including waiting). Image size: ${st?.size ?? 0} bytes.`);
      return id;
    } catch (e) {
      this.failures.set(key, Date.now());
      this.backoff.next(key);
      const msg = (e as Error).message;
      ev.event('Warning', 'Failed', `Failed to pull image "${image}": ${msg}`);
      ev.event('Warning', 'Failed', 'Error: ErrImagePull');
      // The next sync (shortly) shows ImagePullBackOff; the pull is retried when it expires.
      throw new ImageError('ErrImagePull', msg, 1000);
    }
  }

  private readonly failures = new Map<string, number>();

  forgetPod(uid: string): void {
    this.backoff.resetPrefix(`${uid}/`);
    for (const k of this.failures.keys()) if (k.startsWith(`${uid}/`)) this.failures.delete(k);
  }
}
