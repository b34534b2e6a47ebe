/**
 * The JSON Schema of `wasmatrix.yaml`. The CLI validates with this object; docs/wasmatrix.schema.json
 * is the same schema for editors (yaml-language-server), and a test keeps the two equal.
 */

const NAME = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$";
const stringMap = { type: "object", additionalProperties: { type: "string" } } as const;

export const MANIFEST_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://wasmatrix.dev/schemas/wasmatrix.schema.json",
  title: "wasmatrix application manifest (wasmatrix.yaml)",
  type: "object",
  additionalProperties: false,
  required: ["app", "components"],
  properties: {
    app: {
      type: "object",
      additionalProperties: false,
      required: ["name", "version"],
      properties: {
        name: { type: "string", pattern: NAME, description: "lower-case letters, digits and '-', up to 40" },
        version: {
          type: "string",
          minLength: 1,
          maxLength: 64,
          description: "any string; 0.1.0 style is usual",
        },
        description: { type: "string", maxLength: 1024 },
      },
    },
    variables: {
      type: "object",
      description:
        // biome-ignore lint/suspicious/noTemplateCurlyInString: ${NAME} is the manifest syntax this describes
        "defaults for ${NAME} in app.version, module, args, env and build commands; --var NAME=VALUE overrides",
      propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$" },
      additionalProperties: { type: ["string", "number", "boolean"] },
    },
    components: {
      type: "array",
      minItems: 1,
      maxItems: 100,
      items: { $ref: "#/definitions/component" },
    },
  },
  definitions: {
    component: {
      type: "object",
      additionalProperties: false,
      required: ["name", "module"],
      properties: {
        name: { type: "string", pattern: NAME },
        module: {
          type: "string",
          minLength: 1,
          description: "a .wasm path (relative to the manifest) or oci://host/repo:tag",
        },
        build: {
          type: "object",
          additionalProperties: false,
          required: ["command"],
          properties: {
            command: {
              type: "string",
              minLength: 1,
              description: "run with sh -c in workdir before deploying",
            },
            workdir: { type: "string", description: "relative to the manifest; default its directory" },
            watch: { type: "array", items: { type: "string" }, description: "globs `wasmatrix dev` watches" },
          },
        },
        replicas: { type: "integer", minimum: 1, maximum: 1000, default: 1 },
        restart: { type: "string", description: "never | always | backoff[:…], as start --restart" },
        args: { type: "array", items: { type: "string" } },
        env: stringMap,
        labels: stringMap,
        limits: {
          type: "object",
          additionalProperties: false,
          properties: {
            memory: { type: ["string", "integer"], description: "bytes, or 64MiB" },
            fuel: { type: "integer", minimum: 1 },
            timeout: { type: ["string", "integer"], description: "invoke timeout: ms, or 30s" },
          },
        },
        capabilities: {
          type: "array",
          items: { type: "string", description: "as start --cap: keyvalue=kv:read,kv:write" },
        },
        routes: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["path"],
            properties: {
              name: { type: "string", pattern: NAME },
              path: { type: "string", pattern: "^/" },
              host: { type: "string" },
              methods: { type: "array", items: { type: "string", pattern: "^[A-Z]+$" } },
              operation: { type: "string" },
            },
          },
        },
        triggers: {
          type: "array",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["name", "operation"],
            properties: {
              name: { type: "string", pattern: NAME },
              cron: { type: "string" },
              queue: { type: "string" },
              group: { type: "string" },
              operation: { type: "string" },
              data: { type: "string" },
            },
            oneOf: [{ required: ["cron"] }, { required: ["queue"] }],
          },
        },
      },
    },
  },
} as const;
