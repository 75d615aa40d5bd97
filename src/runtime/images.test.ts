// Image store against a real docker-registry on loopback, with images built locally.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile, writeFile, lstat, readdir, mkdir, truncate, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ImageStore } from './images/store.js';
import { importArchive } from './images/import.js';
import { parseReference, formatReference } from './images/reference.js';
import { ImagePullError, type PullProgress } from './cri.js';
import { busyboxImage, layer, layerTar, image, dockerSaveArchive, ociArchive, busyboxLayer } from '../../test/lib/images.js';
import { startRegistry, startAuthProxy, type TestRegistry } from '../../test/lib/registry.js';

let dir: string;
let reg: TestRegistry;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jotasu-images-test-'));
  reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('references normalize like Docker', () => {
  const f = (s: string) => formatReference(parseReference(s));
  assert.equal(f('nginx'), 'docker.io/library/nginx:latest');
  assert.equal(f('user/app:1.2'), 'docker.io/user/app:1.2');
  assert.equal(f('index.docker.io/library/redis'), 'docker.io/library/redis:latest');
  assert.equal(f('127.0.0.1:5000/x/y'), '127.0.0.1:5000/x/y:latest');
  assert.equal(f('localhost/a'), 'localhost/a:latest');
  const d = 'sha256:' + 'a'.repeat(64);
  assert.equal(f(`busybox@${d}`), `docker.io/library/busybox@${d}`);
  assert.throws(() => parseReference('library/UPPER'));
});

test('pull from a registry: layers unpacked, whiteouts, dedup, digest, progress', async () => {
  const store = new ImageStore(join(dir, 'a'));
  await store.init();
  const upper = layer(await layerTar([
    { path: 'etc' }, { path: 'etc/motd', content: 'hello\n' },
    { path: 'etc/.wh.group' },
    { path: 'var' }, { path: 'var/.wh..wh..opq' },
  ]));
  const img = await busyboxImage({ Env: ['FOO=bar'], Cmd: ['echo', 'hi'] }, [upper]);
  await reg.push(img, 'test/busybox:v1');
  const events: PullProgress[] = [];
  const rec = await store.pull(`${reg.host}/test/busybox:v1`, undefined, (p) => events.push(p));
  assert.equal(rec.id, img.configDigest);
  assert.deepEqual(rec.repoTags, [`${reg.host}/test/busybox:v1`]);
  assert.ok(rec.repoDigests[0]!.endsWith(`@${img.manifestDigest}`), `repo digest ${rec.repoDigests[0]}`);
  assert.ok(events.some((e) => e.phase === 'done'));
  const dirs = await store.layerDirs(rec);
  assert.equal(dirs.length, 2);
  assert.ok((await lstat(join(dirs[0]!, 'bin/busybox'))).isFile());
  assert.ok((await lstat(join(dirs[0]!, 'bin/sh'))).isSymbolicLink());
  assert.equal(await readFile(join(dirs[1]!, 'etc/motd'), 'utf8'), 'hello\n');
  const wh = await lstat(join(dirs[1]!, 'etc/group'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0:0 char device');
  const opq = execFileSync('perl', ['-e', 'my ($p, $k, $b) = ($ARGV[0], "trusted.overlay.opaque", "\\0" x 8); my $n = syscall(191, $p, $k, $b, 8); print substr($b, 0, $n)', join(dirs[1]!, 'var')], { encoding: 'utf8' });
  assert.equal(opq, 'y');
  // The same image pulled by digest: nothing downloaded again.
  const again: PullProgress[] = [];
  const rec2 = await store.pull(`${reg.host}/test/busybox@${img.manifestDigest}`, undefined, (p) => again.push(p));
  assert.equal(rec2.id, rec.id);
  assert.ok(again.filter((e) => e.phase === 'downloading').length === 0);
  assert.ok(again.some((e) => e.phase === 'exists'));
  assert.equal((await store.get('sha256:' + rec.id.slice(7, 19))).id, rec.id, 'short id lookup');
});

test('resume a partial blob download with Range', async () => {
  const store = new ImageStore(join(dir, 'resume'));
  await store.init();
  const img = await busyboxImage({ Cmd: ['true'] });
  await reg.push(img, 'test/resume:v1');
  const big = img.layers[0]!;
  const partial = join(store.ingestDir, `${big.digest.slice(7)}.partial`);
  await writeFile(partial, big.gz.subarray(0, Math.floor(big.gz.length / 2)));
  const events: PullProgress[] = [];
  await store.pull(`${reg.host}/test/resume:v1`, undefined, (p) => events.push(p));
  const done = events.find((e) => e.phase === 'done' && e.digest === big.digest);
  assert.equal(done?.current, big.gz.length);
  assert.equal((await stat(store.blobPath(big.digest))).size, big.gz.length);
  // A corrupted partial is detected by the digest check and the pull fails cleanly.
  const store2 = new ImageStore(join(dir, 'resume2'));
  await store2.init();
  await writeFile(join(store2.ingestDir, `${big.digest.slice(7)}.partial`), Buffer.alloc(1000, 1));
  await assert.rejects(store2.pull(`${reg.host}/test/resume:v1`), /digest mismatch/);
  await truncate(partial, 0).catch(() => undefined);
});

test('pull errors carry the registry reason', async () => {
  const store = new ImageStore(join(dir, 'err'));
  await store.init();
  await assert.rejects(store.pull(`${reg.host}/test/nope:v1`), (e: unknown) => {
    assert.ok(e instanceof ImagePullError);
    assert.match(e.message, /not found/);
    return true;
  });
  await assert.rejects(store.pull('127.0.0.1:1/x:y'), (e: unknown) => e instanceof ImagePullError && /failed to do request/.test(e.message));
});

test('bearer token auth like Docker Hub', async () => {
  const store = new ImageStore(join(dir, 'auth'));
  await store.init();
  const img = await busyboxImage({ Cmd: ['sh'] });
  await reg.push(img, 'private/app:1');
  const proxy = await startAuthProxy(reg.host, 'alice', 's3cret');
  try {
    await assert.rejects(store.pull(`${proxy.host}/private/app:1`), /failed to authorize|token/);
    await assert.rejects(store.pull(`${proxy.host}/private/app:1`, { username: 'alice', password: 'wrong' }), /401/);
    const rec = await store.pull(`${proxy.host}/private/app:1`, { username: 'alice', password: 's3cret' });
    assert.equal(rec.id, img.configDigest);
    assert.ok(proxy.tokensIssued >= 1);
  } finally {
    await proxy.stop();
  }
});

test('import docker save and OCI layout archives; remove', async () => {
  const store = new ImageStore(join(dir, 'imp'));
  await store.init();
  const img = await busyboxImage({ Cmd: ['echo', 'saved'] });
  const f1 = join(dir, 'save.tar');
  await writeFile(f1, await dockerSaveArchive(img, ['myapp:1']));
  const [r1] = await importArchive(store, f1);
  assert.equal(r1!.id, img.configDigest);
  assert.deepEqual(r1!.repoTags, ['docker.io/library/myapp:1']);
  assert.ok((await store.find('myapp:1')));
  const img2 = image([layer(await busyboxLayer())], { Cmd: ['echo', 'oci'] });
  const f2 = join(dir, 'oci.tar');
  await writeFile(f2, await ociArchive(img2, 'example.com/oci/app:2'));
  const [r2] = await importArchive(store, f2);
  assert.equal(r2!.id, img2.configDigest);
  assert.deepEqual(r2!.repoTags, ['example.com/oci/app:2']);
  // Both share the busybox layer: unpacked once.
  assert.equal((await readdir(store.layersDir)).filter((n) => n.endsWith('.json')).length, 1);
  await store.remove('myapp:1');
  assert.equal(await store.find('myapp:1'), null);
  assert.ok(await store.find('example.com/oci/app:2'));
  await store.remove('example.com/oci/app:2');
  assert.equal((await readdir(store.layersDir)).length, 0, 'layers garbage-collected');
  assert.equal((await readdir(store.blobsDir)).length, 0, 'blobs garbage-collected');
  await mkdir(join(dir, 'unused'), { recursive: true });
});

test('the agent\'s cached index follows changes another process makes (jotasu images import/rm)', async () => {
  const agent = new ImageStore(join(dir, 'shared'));
  const cli = new ImageStore(join(dir, 'shared'));
  await agent.init();
  assert.equal(await agent.find('cached:1'), null);
  const img = await busyboxImage({ Cmd: ['echo', 'cached'] });
  const f = join(dir, 'cached.tar');
  await writeFile(f, await dockerSaveArchive(img, ['cached:1']));
  await importArchive(cli, f);
  const rec = await agent.find('cached:1');
  assert.equal(rec?.id, img.configDigest, 'an import by another store instance is seen');
  assert.deepEqual((await agent.config(rec!)).config?.Cmd, ['echo', 'cached']);
  assert.equal((await agent.layerDirs(rec!)).length, 1);
  await cli.remove('cached:1');
  assert.equal(await agent.find('cached:1'), null, 'a removal by another store instance is seen');
  // Imported again: the agent unpacks the layers the removal deleted (no stale "unpacked" record).
  await importArchive(cli, f);
  const again = (await agent.find('cached:1'))!;
  await agent.remove(again.id).catch(() => undefined);
  await importArchive(cli, f);
  const dirs = await agent.layerDirs((await agent.find('cached:1'))!);
  assert.ok((await lstat(join(dirs[0]!, 'bin'))).isDirectory(), 'layer present on disk');
  await cli.remove('cached:1');
});
