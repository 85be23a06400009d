import { workspace } from "kiln";

// kiln builds kiln: this repository is a workspace too (examples/ hold workspaces of their own).
export default workspace({ name: "kiln", version: "0.1.0" });
