/**
 * The worker pool for `step` functions, started only when a step actually has to run (pool start
 * is ~110 ms; a fully cached build never pays it).
 */
import type { Piscina } from "piscina";
import { kilnDistFile } from "../kiln-install.js";
import type { StepOutcome, StepTask } from "./step-worker.js";

export class StepPool {
  private pool?: Piscina;

  constructor(private readonly threads: number) {}

  async run(task: StepTask): Promise<StepOutcome> {
    if (!this.pool) {
      const { Piscina } = await import("piscina");
      this.pool = new Piscina({
        // A file of its own, also when this module is part of the CLI bundle (dist/cli/).
        filename: kilnDistFile("src/exec/step-worker.js"),
        minThreads: 1,
        maxThreads: this.threads,
        idleTimeout: 30_000,
      });
      // An uncaught error inside a worker must not take kiln down: the task's promise rejects.
      this.pool.on("error", () => {});
    }
    try {
      return (await this.pool.run(task)) as StepOutcome;
    } catch (error) {
      return { ok: false, log: "", error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    }
  }

  /** Stops the workers (a running task rejects, so its step fails). Safe to call twice. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }
}
