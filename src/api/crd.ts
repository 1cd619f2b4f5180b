// Turns the TypeBox schemas into the CustomResourceDefinition. Pure: schema in, object out.
import type { TSchema } from '@sinclair/typebox';
import { VERSION as RELEASE_VERSION } from '../version.ts';
import {
  API_VERSION,
  GROUP,
  KIND,
  LiveStreamSpec,
  LiveStreamStatus,
  PLURAL,
  ROOT_RULES,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from './livestream.ts';

type Json = Record<string, unknown>;

/** TypeBox schemas carry symbol keys and JSON-Schema-only keywords; a CRD wants plain structural OpenAPI v3. */
export function toOpenApi(schema: TSchema): Json {
  const plain = JSON.parse(JSON.stringify(schema)) as Json;
  return strip(plain);
}

function strip(node: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$id' || k === '$schema') continue;
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, strip(s as Json)]));
    } else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') {
      out[k] = strip(v as Json);
    } else if (k === 'patternProperties' && v && typeof v === 'object') {
      // Type.Record emits patternProperties; structural schemas express maps as additionalProperties.
      const [only] = Object.values(v as Json);
      out.additionalProperties = strip(only as Json);
    } else if (k === 'additionalProperties' && v === false) {
      // The API server prunes unknown fields already; false is not allowed next to properties.
    } else {
      out[k] = v;
    }
  }
  return out;
}

export function liveStreamCrd(): Json {
  const spec = toOpenApi(LiveStreamSpec);
  const status = toOpenApi(LiveStreamStatus);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      // The release the CRD came from: Helm never upgrades crds/, so this tells which schema a cluster has.
      labels: {
        'app.kubernetes.io/name': 'vstream',
        'app.kubernetes.io/part-of': 'vstream',
        'app.kubernetes.io/version': RELEASE_VERSION,
      },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: ['vstream'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the stream’s state.' },
            { name: 'Live', type: 'boolean', jsonPath: '.status.live', description: 'A publisher is online.' },
            {
              name: 'Viewers',
              type: 'integer',
              jsonPath: '.status.viewers',
              priority: 1,
              description: 'Current viewers.',
            },
            {
              name: 'Ingest',
              type: 'string',
              jsonPath: '.status.ingest.url',
              description: 'The ingest URL a streamer uses (empty while endpoints are pending).',
            },
            {
              name: 'Endpoints',
              type: 'string',
              jsonPath: '.status.conditions[?(@.type=="EndpointsReady")].reason',
              description:
                'Where the URLs are reached from (ExternalHost, LoadBalancer, NodePort, ClusterInternal) or what they wait for (LoadBalancerPending, NodeAddressUnknown, ...).',
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              description: `A LiveStream (${API_VERSION}) is one live channel: an ingest endpoint with a publish token, playback URLs guarded by public access or viewer JWTs, optional recording, and per-stream metrics, run by a MediaMTX instance the vstream operator manages.`,
              type: 'object',
              required: ['spec'],
              'x-kubernetes-validations': ROOT_RULES,
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion of this object: vstream.io/v1alpha1.' },
                kind: { type: 'string', description: 'Kind of this object: LiveStream.' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}
