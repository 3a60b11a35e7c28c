/**
 * A small toolkit for tests of the room's toolkit: one tiny "wheel", requirements.txt, a valid
 * `cleanroom.toolkit.v1` manifest (its id the id of its files) and a default pointer — the objects
 * `room tools --publish` would write under `tools/toolkits/<id>/`, without building anything.
 */
import { createHash } from 'node:crypto';
import { assembleToolkit, manifestBytes, TOOLKIT_POINTER_SCHEMA } from '../../../src/domain/toolkit.js';

export interface FakeToolkit {
  id: string;
  /** name (`manifest.json`, `requirements.txt`, `wheels/…`) → bytes */
  files: Map<string, Buffer>;
  manifestSha256: string;
  /** tools/toolkits/default.json naming this toolkit. */
  pointer: Buffer;
  /** The wheel's name in the toolkit (`wheels/…`). */
  wheel: string;
}

/** A toolkit whose one wheel's content is `seed` (different seeds: different toolkits). */
export function fakeToolkit(seed: string): FakeToolkit {
  const wheelFile = 'dissect.target-3.25.1-py3-none-any.whl';
  const wheel = Buffer.from(`a wheel, seed ${seed}`);
  const { requirements, manifest } = assembleToolkit({
    name: 'test toolkit',
    builtAt: '2026-12-05T00:00:00Z',
    builtWith: { python: '3.11.7', pip: '24.0' },
    arch: 'x86_64',
    packages: ['dissect.target'],
    wheels: [{ file: wheelFile, sha256: createHash('sha256').update(wheel).digest('hex'), bytes: wheel.length }],
  });
  const m = manifestBytes(manifest);
  const manifestSha256 = createHash('sha256').update(m).digest('hex');
  return {
    id: manifest.toolkitId,
    files: new Map([
      ['manifest.json', m],
      ['requirements.txt', requirements],
      [`wheels/${wheelFile}`, wheel],
    ]),
    manifestSha256,
    pointer: Buffer.from(
      JSON.stringify({
        schema: TOOLKIT_POINTER_SCHEMA,
        toolkitId: manifest.toolkitId,
        manifestSha256,
        publishedAt: '2026-12-05T00:00:00Z',
      }),
    ),
    wheel: `wheels/${wheelFile}`,
  };
}
