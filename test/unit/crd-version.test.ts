// The installed CRD's release label against the controller's: semantic-version order, and what the controller says.
import { describe, expect, it } from 'vitest';
import { CRD_VERSION_LABEL, compareVersions, judgeCrd } from '../../src/controller/crd-version.ts';
import { VERSION } from '../../src/version.ts';

describe('compareVersions', () => {
  it('orders releases and pre-releases as semver does', () => {
    const ordered = [
      '0.1.0',
      '0.1.1',
      '0.2.0-alpha',
      '0.2.0-alpha.1',
      '0.2.0-alpha.beta',
      '0.2.0-beta.2',
      '0.2.0-beta.11',
      '0.2.0-rc.1',
      '0.2.0',
      '0.10.0',
      '1.0.0',
    ];
    for (let i = 0; i < ordered.length; i++)
      for (let j = 0; j < ordered.length; j++)
        expect(compareVersions(ordered[i]!, ordered[j]!), `${ordered[i]} vs ${ordered[j]}`).toBe(
          i < j ? -1 : i > j ? 1 : 0,
        );
    expect(compareVersions('v1.2.3', '1.2.3+build.5')).toBe(0);
  });

  it('refuses what is not a version', () => {
    expect(compareVersions('latest', '1.0.0')).toBeUndefined();
    expect(compareVersions('1.0', '1.0.0')).toBeUndefined();
  });
});

describe('judgeCrd', () => {
  it('is quiet for the same or a newer CRD', () => {
    expect(judgeCrd({ [CRD_VERSION_LABEL]: VERSION })).toEqual({ state: 'current', installed: VERSION });
    expect(judgeCrd({ [CRD_VERSION_LABEL]: '99.0.0' }, '0.1.0').state).toBe('newer');
  });

  it('calls an older or unlabelled CRD outdated, and says how to upgrade it', () => {
    const older = judgeCrd({ [CRD_VERSION_LABEL]: '0.1.0' }, '0.2.0');
    expect(older.state).toBe('outdated');
    expect(older).toHaveProperty(
      'message',
      expect.stringMatching(/release 0\.1\.0, older than the controller \(0\.2\.0\).*Helm does not upgrade CRDs/),
    );
    const unlabelled = judgeCrd({}, '0.2.0');
    expect(unlabelled.state).toBe('outdated');
    expect(unlabelled).toHaveProperty('message', expect.stringContaining('no app.kubernetes.io/version label'));
  });

  it('says when the label is not a version', () => {
    expect(judgeCrd({ [CRD_VERSION_LABEL]: 'dev' }, '0.2.0').state).toBe('unknown');
  });
});
