/**
 * `kiln graph --format html` in headless Chromium (Debian's chromium, driven by playwright-core):
 * the penguins graph is drawn (a screenshot holds every status colour of its nodes), it loads
 * nothing from the network, a click on a node shows its details, search and zoom work. The one
 * test file that starts a browser. Without Chromium it skips, saying so, except in CI.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser } from "playwright-core";
import { cleanupTempDirs, exampleFiles, makeWorkspace, show, type Fixture } from "./harness.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
if (!CHROMIUM && process.env.CI === "true") throw new Error("CI needs Debian's chromium for the graph page test (.ci/run installs it)");
if (!CHROMIUM) console.warn("graph-html.test.ts: skipped: no /usr/bin/chromium (apt-get install chromium)");

let browser: Browser | undefined;
let f: Fixture;
let page: string;

beforeAll(async () => {
  if (!CHROMIUM) return;
  f = makeWorkspace(exampleFiles("penguins"));
  const built = await f.kiln(["build", "//..."]);
  expect(built.code, show(built)).toBe(0);
  const graph = await f.kiln(["graph", "//...", "--format", "html", "-o", "graph.html"]);
  expect(graph.code, show(graph)).toBe(0);
  page = pathToFileURL(join(f.ws, "graph.html")).href;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  cleanupTempDirs();
});

describe.skipIf(!CHROMIUM)("kiln graph --format html", () => {
  it("draws every node of the penguins graph, with its status colour, and loads nothing from the network", async () => {
    const context = await browser!.newContext({ viewport: { width: 1400, height: 800 } });
    const tab = await context.newPage();
    const requests: string[] = [];
    tab.on("request", (request) => requests.push(request.url()));
    const errors: string[] = [];
    tab.on("pageerror", (error) => errors.push(error.message));
    await tab.goto(page);
    await tab.waitForSelector("body[data-ready=true]");
    expect(errors).toEqual([]);
    expect(requests).toEqual([page]);

    const nodes = await tab.$$eval("g.node", (groups) =>
      groups.map((g) => {
        const box = g.getBoundingClientRect();
        return { label: g.getAttribute("data-label"), status: g.getAttribute("data-status"), width: box.width, height: box.height, x: box.x, y: box.y };
      }),
    );
    expect(nodes.map((n) => n.label).sort()).toEqual([
      "//data:penguins",
      "//features:matrix",
      "//features:split",
      "//features:summary",
      "//models:classifier",
      "//models:quality",
      "//reports:report",
    ]);
    // `build //...` leaves the test out: it was never built.
    expect(nodes.find((n) => n.label === "//models:quality")!.status).toBe("never built");
    expect(nodes.filter((n) => n.status === "executed")).toHaveLength(6);
    for (const node of nodes) {
      expect(node.width).toBeGreaterThan(50);
      expect(node.x).toBeGreaterThanOrEqual(0);
      expect(node.x + node.width).toBeLessThanOrEqual(1400);
    }
    expect(await tab.locator("path.edge").count()).toBe(7);

    // The screenshot itself: decoded by the browser, pixels of the two status fills counted.
    const png = await tab.screenshot({ type: "png" });
    const counts = await (await context.newPage()).evaluate(async (dataUrl) => {
      const image = new Image();
      image.src = dataUrl;
      await image.decode();
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const context2d = canvas.getContext("2d")!;
      context2d.drawImage(image, 0, 0);
      const pixels = context2d.getImageData(0, 0, image.width, image.height).data;
      let executed = 0;
      let never = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
        if (r === 0xc6 && g === 0xef && b === 0xce) executed++;
        if (r === 0xee && g === 0xee && b === 0xee) never++;
      }
      return { executed, never };
    }, `data:image/png;base64,${png.toString("base64")}`);
    // Six executed boxes of at least ~120x42 px (less their text), and the never-built one.
    expect(counts.executed).toBeGreaterThan(6 * 2000);
    expect(counts.never).toBeGreaterThan(2000);
    await context.close();
  });

  it("shows a node's details on click, finds labels by search, and zooms with the wheel", async () => {
    const tab = await browser!.newPage({ viewport: { width: 1400, height: 800 } });
    await tab.goto(page);
    await tab.waitForSelector("body[data-ready=true]");
    await expect(tab.locator("#details").isVisible()).resolves.toBe(false);
    await tab.click('g.node[data-label="//models:classifier"]');
    const details = tab.locator("#details");
    await expect(details.isVisible()).resolves.toBe(true);
    const text = await details.innerText();
    expect(text).toContain("//models:classifier");
    expect(text).toContain("executed");
    expect(text).toContain("kiln-out/models/classifier/model.json");
    expect(text).toContain("//features:matrix");
    expect(text).toMatch(/duration\s+\d+\.\d\d s/);

    await tab.fill("#search", "features");
    expect(await tab.locator("g.node.match").count()).toBe(3);
    expect(await tab.locator("g.node.dim").count()).toBe(4);
    await tab.press("#search", "Enter");
    expect(await details.getAttribute("data-label")).toBe("//features:matrix");

    const before = await tab.getAttribute("#viewport", "transform");
    await tab.mouse.move(700, 400);
    await tab.mouse.wheel(0, -400);
    const after = await tab.getAttribute("#viewport", "transform");
    const scale = (transform: string | null) => Number(/scale\(([^)]+)\)/.exec(transform ?? "")?.[1]);
    expect(scale(after)).toBeGreaterThan(scale(before));
    await tab.close();
  });
});
