import { workspace } from "kiln";

// Every input of this pipeline lives in the tree (data/penguins.json), so there are no `sources`.
export default workspace({ name: "penguins", version: "0.1.0" });
