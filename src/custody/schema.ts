/**
 * The evidence schemas (`evidence-schema/v1/*.schema.json`, JSON Schema draft 2020-12) and their
 * validators (ajv, compiled once per process). Writers validate before they write; `custody
 * verify` validates every stored object. The schemas are compiled into the build
 * (src/assets/generated/schemas.ts, generated from the files by `npm run build`), so a bundle
 * carries them; the files stay the sources of truth and what the docs point at.
 */
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { CleanroomError } from '../domain/errors.js';
import { EVENT_SCHEMA, MANIFEST_SCHEMA } from '../assets/generated/schemas.js';
import { packagePath } from '../assets/package-path.js';
import { EVENT_SCHEMA_ID, MANIFEST_SCHEMA_ID, type CaseManifest, type CustodyEvent } from './event.js';

/** The folder holding the schema files (the package ships it next to dist/; not read at run time). */
export const SCHEMA_DIR = packagePath(import.meta.url, '../../evidence-schema/v1', 'evidence-schema/v1');
export const EVENT_SCHEMA_FILE = path.join(SCHEMA_DIR, 'custody-event.schema.json');
export const MANIFEST_SCHEMA_FILE = path.join(SCHEMA_DIR, 'case-manifest.schema.json');

// ajv-formats is CommonJS: its function is the module's default export.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv2020,
) => Ajv2020;

/** The part of the manifest schema read here: the evidence entry's fields. */
type ManifestSchemaShape = { $defs: { evidence: { properties: Record<string, unknown> } } };

let compiled: { event: ValidateFunction; manifest: ValidateFunction; manifestSchema: ManifestSchemaShape } | undefined;

function load() {
  if (compiled) return compiled;
  // Copies: ajv keeps (and may annotate) what it compiles; the embedded objects stay as generated.
  const eventSchema = structuredClone(EVENT_SCHEMA);
  const manifestSchema = structuredClone(MANIFEST_SCHEMA);
  if (eventSchema.$id !== EVENT_SCHEMA_ID || manifestSchema.$id !== MANIFEST_SCHEMA_ID) {
    throw new CleanroomError(
      'INSTALLATION_INCOMPLETE',
      `The evidence schemas built into cleanroom (from ${SCHEMA_DIR}) do not carry the $ids this build expects (${EVENT_SCHEMA_ID}, ${MANIFEST_SCHEMA_ID}): reinstall cleanroom.`,
      {
        details: { schemaDir: SCHEMA_DIR, expected: [EVENT_SCHEMA_ID, MANIFEST_SCHEMA_ID] },
      },
    );
  }
  const ajv = addFormats(new Ajv2020({ allErrors: false, strict: true }));
  compiled = {
    event: ajv.compile(eventSchema),
    manifest: ajv.compile(manifestSchema),
    manifestSchema: manifestSchema as ManifestSchemaShape,
  };
  return compiled;
}

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map(
    (e) =>
      `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty?: string }).additionalProperty})` : ''}`,
  );
}

/** Schema errors of a custody event (empty when valid). */
export function eventSchemaErrors(doc: unknown): string[] {
  const v = load().event;
  return v(doc) ? [] : describe(v.errors);
}

/** Schema errors of a case manifest (empty when valid). */
export function manifestSchemaErrors(doc: unknown): string[] {
  const v = load().manifest;
  return v(doc) ? [] : describe(v.errors);
}

/** Type guard over {@link eventSchemaErrors}. */
export function isCustodyEvent(doc: unknown): doc is CustodyEvent {
  return eventSchemaErrors(doc).length === 0;
}

/** Type guard over {@link manifestSchemaErrors}. */
export function isCaseManifest(doc: unknown): doc is CaseManifest {
  return manifestSchemaErrors(doc).length === 0;
}

/** The evidence item fields the manifest carries (from the schema, so the two cannot disagree). */
export function manifestEvidenceFields(): string[] {
  return Object.keys(load().manifestSchema.$defs.evidence.properties);
}
