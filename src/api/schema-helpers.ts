import { type ObjectOptions, type SchemaOptions, type TProperties, type TSchema, Type } from '@sinclair/typebox';

// Helpers that keep the TypeBox source structural, so it converts 1:1 into a CRD schema
// (no anyOf/const, which TypeBox would emit for literal unions and the API server rejects).

/** A CEL rule as the API server evaluates it (x-kubernetes-validations). */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath of the field the message names, relative to the schema the rule sits on. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export const StringEnum = <T extends string>(values: readonly T[], options: SchemaOptions) =>
  Type.Unsafe<T>({ ...options, type: 'string', enum: [...values] });

/** A Go duration restricted to the units both MediaMTX (every version) and Kubernetes CEL accept. */
export const Duration = (options: SchemaOptions) =>
  Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$', maxLength: 32, ...options });

/**
 * A Kubernetes resource quantity, as Kubernetes itself accepts one: a string ("20Gi", "500m", "1.5") or an
 * integer (`cpu: 1`). The pattern is the API server's own quantity pattern without the minus sign (it applies to strings only).
 */
export const Quantity = (options: SchemaOptions) =>
  Type.Unsafe<string | number>({
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern:
      '^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
    maxLength: 32,
    ...options,
  });

export const SecretKeyRef = (description: string, defaultKey: string) =>
  Type.Object(
    {
      name: Type.String({
        description: 'Name of a Secret in the LiveStream’s namespace.',
        minLength: 1,
        maxLength: 253,
        pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
      }),
      key: Type.Optional(
        Type.String({
          description: `Key inside the Secret. Defaults to "${defaultKey}".`,
          default: defaultKey,
          minLength: 1,
          maxLength: 253,
          pattern: '^[-._a-zA-Z0-9]+$',
        }),
      ),
    },
    { description, additionalProperties: false },
  );

export const withRules = <T extends TSchema>(schema: T, rules: CelRule[]): T =>
  ({ ...schema, 'x-kubernetes-validations': rules }) as T;

/** An object whose properties are all optional (defaults fill them in), kept structural for the CRD. */
export const Struct = <T extends TProperties>(properties: T, options: ObjectOptions) =>
  Type.Partial(Type.Object(properties, options), options);
