/**
 * The shape of the provenance kiln writes, as a zod schema: an in-toto Statement v1 whose
 * predicate is SLSA provenance v1, with the fields kiln fills required. Tests validate every
 * statement against it, and `kiln provenance --verify` parses statements with it.
 */
import { z } from "zod";
import { SLSA_PROVENANCE_V1, STATEMENT_TYPE } from "./provenance.js";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const json: z.ZodType = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]));
const timestamp = z.string().refine((s) => !Number.isNaN(Date.parse(s)) && s.endsWith("Z"), "an RFC 3339 UTC timestamp");

export const resourceDescriptorSchema = z
  .object({
    name: z.string().optional(),
    uri: z.string().optional(),
    mediaType: z.string().optional(),
    digest: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), json).optional(),
  })
  .refine((d) => d.uri !== undefined || d.digest !== undefined, "a resource descriptor needs a uri or a digest");

export const statementSchema = z.object({
  _type: z.literal(STATEMENT_TYPE),
  subject: z.array(z.object({ name: z.string().min(1), digest: z.object({ sha256 }).catchall(z.string()) })).min(1),
  predicateType: z.literal(SLSA_PROVENANCE_V1),
  predicate: z.object({
    buildDefinition: z.object({
      buildType: z.url(),
      externalParameters: z.record(z.string(), json),
      internalParameters: z.record(z.string(), json).optional(),
      resolvedDependencies: z.array(resourceDescriptorSchema),
    }),
    runDetails: z.object({
      builder: z.object({ id: z.url(), version: z.record(z.string(), z.string()).optional() }),
      metadata: z.object({ invocationId: z.string(), startedOn: timestamp, finishedOn: timestamp }).partial().optional(),
      byproducts: z.array(resourceDescriptorSchema).optional(),
    }),
  }),
});
export type ValidStatement = z.infer<typeof statementSchema>;
