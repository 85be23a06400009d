import { step } from "kiln";

/** report.html: a self-contained page with the classifier's metrics and the data summary. */
export const report = step({
  srcs: { classifier: "//models:classifier", summary: "//features:summary" },
  outs: ["report.html"],
  run: "./report.ts#render",
});
