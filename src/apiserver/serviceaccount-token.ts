// Bound service-account tokens (upstream pkg/serviceaccount and
// pkg/registry/core/serviceaccount/storage/token.go): JWTs signed with the cluster's
// service-account key, carrying the `kubernetes.io` claim that names the namespace,
// the service account and the object the token is bound to. The authenticator accepts
// them as bearer tokens while the service account and the bound object still exist
// with the same uid.
import { createHash, createPrivateKey, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignJWT, jwtVerify, decodeJwt } from 'jose';
import { errors } from '../api/errors.js';
import type { Authenticator, UserInfo } from './auth.js';
import type { Obj } from './objects.js';

/** k3s' and kubeadm's issuer; also the API server's audience unless told otherwise. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The kubelet asks for this on kube-api-access volumes; such pod-bound tokens get a year (upstream's --service-account-extend-token-expiration). */
export const WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 3607;
export const EXPIRATION_EXTENSION_SECONDS = 365 * 24 * 3600;
/** Upstream's jwt.DefaultLeeway for exp/nbf/iat. */
const LEEWAY_SECONDS = 60;

export interface Ref { name: string; uid: string }

/** The private `kubernetes.io` claim, as upstream's serviceaccount.privateClaims. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: Ref;
  pod?: Ref;
  secret?: Ref;
  node?: Ref;
  warnafter?: number;
}

export interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': KubernetesClaim;
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function algOf(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  throw new Error(`service-account key: unsupported key type ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`);
}

export class ServiceAccountTokens {
  readonly issuer: string;
  /** Audiences the API server accepts (upstream --api-audiences; default: the issuer). */
  readonly audiences: string[];
  /** Upstream's key id: base64url(sha256(PKIX DER of the public key)). */
  readonly kid: string;
  readonly alg: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  constructor(keyPem: string, opts: { issuer?: string; audiences?: string[] } = {}) {
    this.issuer = opts.issuer ?? DEFAULT_ISSUER;
    this.audiences = opts.audiences?.length ? opts.audiences : [this.issuer];
    this.privateKey = createPrivateKey(keyPem);
    this.publicKey = createPublicKey(this.privateKey);
    this.alg = algOf(this.privateKey);
    this.kid = createHash('sha256').update(this.publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
  }

  /** True when every audience is one the API server accepts (the extension applies only to those). */
  isKubeAudiences(auds: string[]): boolean {
    return auds.length > 0 && auds.every((a) => this.audiences.includes(a));
  }

  async sign(k: KubernetesClaim, audiences: string[], expirationSeconds: number, now = new Date()): Promise<{ token: string; claims: ServiceAccountClaims }> {
    const iat = Math.floor(now.getTime() / 1000);
    const claims: ServiceAccountClaims = {
      iss: this.issuer, sub: serviceAccountUsername(k.namespace, k.serviceaccount.name), aud: audiences,
      exp: iat + expirationSeconds, iat, nbf: iat, jti: randomUUID(), 'kubernetes.io': k,
    };
    const token = await new SignJWT(claims as never).setProtectedHeader({ alg: this.alg, kid: this.kid }).sign(this.privateKey);
    return { token, claims };
  }

  /** True when `token` is a JWT this issuer signed (others go to the next authenticator). */
  isOurs(token: string): boolean {
    if (token.split('.').length !== 3) return false;
    try { return decodeJwt(token).iss === this.issuer; } catch { return false; }
  }

  /** Signature, issuer, times and audience; throws when any is wrong. */
  async verify(token: string): Promise<ServiceAccountClaims> {
    const { payload } = await jwtVerify(token, this.publicKey, {
      issuer: this.issuer, audience: this.audiences, clockTolerance: LEEWAY_SECONDS, algorithms: [this.alg],
    });
    return payload as unknown as ServiceAccountClaims;
  }
}

/** Finds an object the token names (service account, pod, secret, node); undefined when gone. */
export type ObjectLookup = (resource: 'serviceaccounts' | 'pods' | 'secrets' | 'nodes', namespace: string, name: string, uid: string) => Promise<Obj | undefined>;

/**
 * Bearer tokens from this issuer → `system:serviceaccount:<ns>:<name>` (upstream
 * serviceaccount.JWTTokenAuthenticator + the legacy/bound validator). Other bearer tokens pass
 * to the next link; ours that fail any check are a 401.
 */
export function serviceAccountTokenAuthenticator(tokens: ServiceAccountTokens, lookup: ObjectLookup): Authenticator {
  // Signature checks cost ~0.1 ms: verified claims are kept until the token expires (bounded).
  // Existence of the service account and bound object is checked on every request.
  const verified = new Map<string, ServiceAccountClaims>();
  return async (req: IncomingMessage): Promise<UserInfo | undefined> => {
    const h = req.headers.authorization;
    if (!h || !/^bearer /i.test(h)) return undefined;
    const token = h.slice(7).trim();
    let claims = verified.get(token);
    if (!claims) {
      if (!tokens.isOurs(token)) return undefined;
      try { claims = await tokens.verify(token); } catch { throw errors.unauthorized(); }
      if (verified.size >= 10_000) verified.clear();
      verified.set(token, claims);
    } else if (Date.now() / 1000 > claims.exp + LEEWAY_SECONDS) {
      verified.delete(token);
      throw errors.unauthorized();
    }
    const k = claims['kubernetes.io'];
    if (!k?.namespace || !k.serviceaccount?.name || !k.serviceaccount.uid) throw errors.unauthorized();
    // As upstream, an object being deleted keeps its tokens valid until a minute after its
    // deletionTimestamp (a pod's is the end of its grace period: preStop hooks may still call the API).
    const invalidIfDeletedBefore = Date.now() - LEEWAY_SECONDS * 1000;
    const check = async (resource: Parameters<ObjectLookup>[0], ns: string, ref: Ref): Promise<void> => {
      const o = await lookup(resource, ns, ref.name, ref.uid);
      if (!o || o.metadata?.uid !== ref.uid) throw errors.unauthorized();
      const del = o.metadata?.deletionTimestamp as string | undefined;
      if (del && Date.parse(del) < invalidIfDeletedBefore) throw errors.unauthorized();
    };
    await check('serviceaccounts', k.namespace, k.serviceaccount);
    if (k.pod) await check('pods', k.namespace, k.pod);
    if (k.secret) await check('secrets', k.namespace, k.secret);
    // A pod-bound token's node claim is informational; node-bound tokens are checked against the node.
    if (k.node && !k.pod) await check('nodes', '', k.node);
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`] };
    if (k.pod) { extra['authentication.kubernetes.io/pod-name'] = [k.pod.name]; extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid]; }
    if (k.node) { extra['authentication.kubernetes.io/node-name'] = [k.node.name]; if (k.node.uid) extra['authentication.kubernetes.io/node-uid'] = [k.node.uid]; }
    return {
      name: serviceAccountUsername(k.namespace, k.serviceaccount.name), uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'], extra,
    };
  };
}
