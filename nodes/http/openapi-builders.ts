/**
 * The pieces the node's OpenAPI document (openapi.ts, openapi-schemas.ts) is written with: its
 * JSON types, a reference to a component schema, bounded integers and strings, objects with
 * their required properties, and responses with a JSON, text or error body.
 */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
export const int = (minimum: number, maximum = Number.MAX_SAFE_INTEGER): JsonObject => ({
  type: 'integer',
  minimum,
  maximum,
});
export const str = (maxLength: number, extra: JsonObject = {}): JsonObject => ({
  type: 'string',
  maxLength,
  ...extra,
});
export const obj = (properties: JsonObject, required: string[] = []): JsonObject => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required } : {}),
});

export const json = (schema: JsonObject, description: string): JsonObject => ({
  description,
  content: { 'application/json': { schema } },
});
export const text = (type: string, description: string): JsonObject => ({
  description,
  content: { [type]: { schema: { type: 'string' } } },
});
export const error = (description: string): JsonObject => json(ref('Error'), description);
