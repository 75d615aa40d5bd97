// Dev tool: builds descriptors.json (field numbers, names and types of the
// Kubernetes protobuf messages the server decodes) from the upstream .proto files of
// k8s.io/api and k8s.io/apimachinery, read from git checkouts.
//   node --import tsx src/apiserver/protobuf/generate.ts <k8s.io/api git dir> <k8s.io/apimachinery git dir>
import protobuf from 'protobufjs';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [apiGit, machineryGit] = process.argv.slice(2);
if (!apiGit || !machineryGit) throw new Error('usage: generate.ts <api git dir> <apimachinery git dir>');
const show = (git: string, path: string): string => execFileSync('git', ['--git-dir', git, 'show', `HEAD:${path}`], { encoding: 'utf8', maxBuffer: 64 << 20 });

const files: [string, string][] = [
  [machineryGit, 'pkg/apis/meta/v1/generated.proto'],
  [machineryGit, 'pkg/runtime/generated.proto'],
  [machineryGit, 'pkg/util/intstr/generated.proto'],
  [machineryGit, 'pkg/api/resource/generated.proto'],
  ...['core/v1', 'apps/v1', 'networking/v1', 'discovery/v1', 'coordination/v1', 'events/v1', 'autoscaling/v1', 'policy/v1', 'authentication/v1', 'authorization/v1', 'rbac/v1', 'batch/v1',
    // batch/v1's JobSpec refers to the workload scheduling policy of scheduling/v1alpha3.
    'scheduling/v1alpha3']
    .map((p) => [apiGit, `${p}/generated.proto`] as [string, string]),
];
const root = new protobuf.Root();
for (const [git, path] of files) {
  protobuf.parse(show(git, path).replace(/^import .*$/gm, ''), root, { keepCase: true, alternateCommentMode: false });
}
root.resolveAll();
// Comments and options are dropped: only the wire layout is kept.
const json = JSON.stringify(root.toJSON({ keepComments: false }));
writeFileSync(new URL('./descriptors.json', import.meta.url), json);
console.log(`descriptors.json: ${json.length} bytes`);
