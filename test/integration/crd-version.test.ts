// The controller against the real API server's CRD: an installed LiveStream CRD older than the controller (its
// release label) gets a warning log line, a Warning Event and vstream_crd_outdated 1; bringing it up to date clears
// the gauge at the next look. The CRD's label is restored afterwards (other files share the control plane).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRD_OUTDATED_REASON, CRD_PATH, CRD_VERSION_LABEL } from '../../src/controller/crd-version.ts';
import type { runController } from '../../src/controller/main.ts';
import { VERSION } from '../../src/version.ts';
import { inProcessController, logLines } from '../support/controller.ts';
import { installCrd } from '../support/crd.ts';
import { clients, waitUntil } from '../support/kube.ts';

const kube = clients().kube;
let ctl: Awaited<ReturnType<typeof runController>> | undefined;
const setLabel = (v: string) => kube.mergePatch(CRD_PATH, { metadata: { labels: { [CRD_VERSION_LABEL]: v } } });
const metrics = async () => (await fetch(`${ctl!.opsAddr}/metrics`)).text();

beforeAll(async () => {
  await installCrd(kube);
});

afterAll(async () => {
  await ctl?.shutdown();
  await setLabel(VERSION);
});

describe('an installed CRD older than the controller', () => {
  it('is reported in a log line, a Warning Event on the CRD and a gauge, and cleared once upgraded', async () => {
    await setLabel('0.0.1');
    const since = new Date(Date.now() - 1000);
    ctl = await inProcessController({ crdCheckMs: 300 });
    await waitUntil(
      'vstream_crd_outdated 1',
      async () =>
        (await metrics()).includes(`vstream_crd_outdated{crd_version="0.0.1",controller_version="${VERSION}"} 1`),
      15_000,
    );
    const warning = logLines.map((l) => JSON.parse(l)).find((l) => l.crdVersion === '0.0.1' && l.level === 40);
    expect(warning?.msg).toMatch(
      new RegExp(
        `from release 0\\.0\\.1, older than the controller \\(${VERSION.replaceAll('.', '\\.')}\\).*Helm does not upgrade CRDs`,
      ),
    );
    const event = await waitUntil(
      'CRDOutdated Event',
      async () => {
        const list = await kube.list('/apis/events.k8s.io/v1/namespaces/default/events');
        return (
          list.items as unknown as {
            reason: string;
            type: string;
            note: string;
            regarding: { kind: string; name: string };
            eventTime: string;
          }[]
        ).find((e) => e.reason === CRD_OUTDATED_REASON && new Date(e.eventTime) >= since);
      },
      15_000,
    );
    expect(event).toMatchObject({
      type: 'Warning',
      regarding: { kind: 'CustomResourceDefinition', name: 'livestreams.vstream.io' },
    });
    expect(event.note).toContain('0.0.1');
    // Told once, not at every look.
    await new Promise((r) => setTimeout(r, 1000));
    expect(logLines.filter((l) => l.includes('"crdVersion":"0.0.1"') && l.includes('"level":40'))).toHaveLength(1);

    await setLabel(VERSION);
    await waitUntil(
      'vstream_crd_outdated 0',
      async () =>
        (await metrics()).includes(`vstream_crd_outdated{crd_version="${VERSION}",controller_version="${VERSION}"} 0`),
      15_000,
    );
    expect(await metrics()).not.toContain('crd_version="0.0.1"');
  });
});
