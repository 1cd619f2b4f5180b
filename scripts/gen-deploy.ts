// Writes deploy/vstream.yaml: the plain manifests for `kubectl apply --server-side -f`, rendered from the chart
// with default values (the chart is the single source). Needs helm from tools/build.sh. The chart test fails when
// the file is stale.
import { writeFileSync } from 'node:fs';
import { renderDeployManifests } from '../dev/chart.ts';

writeFileSync('deploy/vstream.yaml', renderDeployManifests());
console.log('wrote deploy/vstream.yaml');
