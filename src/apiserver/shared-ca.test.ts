import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatastore } from '../datastore/sqlite.js';
import { bootstrapClusterTLS, bootstrapKey, seal, unseal } from './shared-ca.js';
import { ensureClusterTLS } from './tls.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tmp(): string { const d = mkdtempSync(join(tmpdir(), 'jotasu-shared-ca-')); dirs.push(d); return d; }

const saKeyOf = (dataDir: string): string => readFileSync(join(dataDir, 'server', 'tls', 'service.key'), 'utf8');

test('the service-account key is shared with the CA: a second server installs the first one\'s', async () => {
  const ds = await openSqliteDatastore(tmp());
  try {
    const a = tmp(), b = tmp();
    const ta = await bootstrapClusterTLS(ds, a, 'tok', () => ensureClusterTLS(a));
    const tb = await bootstrapClusterTLS(ds, b, 'tok', () => ensureClusterTLS(b));
    assert.equal(tb.ca.certPem, ta.ca.certPem);
    assert.equal(tb.serviceAccountKey, ta.serviceAccountKey);
    assert.equal(saKeyOf(b), saKeyOf(a));
    assert.equal(unseal('tok', (await ds.get(bootstrapKey('tok')))!.value).serviceAccountKey, ta.serviceAccountKey);
  } finally { await ds.close(); }
});

test('bootstrap data from before the key was shared: the next server adds its key, later ones install it', async () => {
  const ds = await openSqliteDatastore(tmp());
  try {
    const a = tmp(), b = tmp(), c = tmp();
    const ta = await ensureClusterTLS(a);
    // What an older server published: the CA only.
    await ds.create(bootstrapKey('tok'), seal('tok', { ca: ta.ca }));
    const tb = await bootstrapClusterTLS(ds, b, 'tok', () => ensureClusterTLS(b));
    assert.equal(tb.ca.certPem, ta.ca.certPem);
    const shared = unseal('tok', (await ds.get(bootstrapKey('tok')))!.value);
    assert.equal(shared.serviceAccountKey, tb.serviceAccountKey);
    const tc = await bootstrapClusterTLS(ds, c, 'tok', () => ensureClusterTLS(c));
    assert.equal(tc.serviceAccountKey, tb.serviceAccountKey);
    // The old server, restarted, takes the shared key in place of its own.
    const ta2 = await bootstrapClusterTLS(ds, a, 'tok', () => ensureClusterTLS(a));
    assert.equal(ta2.serviceAccountKey, tb.serviceAccountKey);
  } finally { await ds.close(); }
});
