/**
 * The trace-event JSON kiln writes and `kiln analyze-profile` reads, as a zod schema: the object
 * form of Chrome's Trace Event Format, with the fields kiln uses ("X" complete slices with a
 * duration, "M" metadata). Reading a profile validates it: a file that is not one is exit 2.
 */
import { z } from "zod";

export const traceEventSchema = z.object({
  name: z.string(),
  cat: z.string().optional(),
  ph: z.enum(["X", "M", "B", "E", "i", "I", "C"]),
  ts: z.number().nonnegative(),
  dur: z.number().nonnegative().optional(),
  pid: z.number().int(),
  tid: z.number().int(),
  args: z.record(z.string(), z.unknown()).optional(),
});

export const traceFileSchema = z.object({
  traceEvents: z.array(traceEventSchema),
  displayTimeUnit: z.enum(["ms", "ns"]).optional(),
  otherData: z.record(z.string(), z.unknown()).optional(),
});

export type TraceFileShape = z.infer<typeof traceFileSchema>;
