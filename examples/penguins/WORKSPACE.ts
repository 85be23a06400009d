import { source, workspace } from "kiln";

// The pipeline's manifest. Its one input from outside the code is the Palmer penguins table,
// declared as a source so that kiln.lock pins its content and provenance names it (@penguins).
// It is committed beside the code (data/penguins.json); a table on a share would be
// source.path("/mnt/share/penguins.json"), one on a server source.url(url, { sha256 }).
export default workspace({
  name: "penguins",
  version: "0.1.0",
  sources: { penguins: source.path("data/penguins.json") },
});
