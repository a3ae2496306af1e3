// The board's accessibility check: axe-core 4 (WCAG 2.0/2.1 A and AA, Section 508) in
// Debian's Chromium through playwright-core, plus what axe cannot see: keyboard reach and a
// visible focus, a polite live region for changes of status, times with their zone.
//
//   node tests/a11y/board.mjs URL [--statuses a,b,...] [--announce TEXT] [--timeout S]
//
// --statuses: wait (up to --timeout) until the board shows a row in each of these statuses
// --announce: keep the page open until the live region has said TEXT (a change of status;
//   the report's live_region.announced holds each text it said)
// Prints one JSON report on stdout; exits 1 when anything fails (make a11y runs it too).
import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "section508"];

function options(argv) {
  const found = { url: null, statuses: [], announce: null, timeout: 60 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--statuses") found.statuses = argv[++i].split(",").filter(Boolean);
    else if (arg === "--announce") found.announce = argv[++i];
    else if (arg === "--timeout") found.timeout = Number(argv[++i]);
    else found.url = arg;
  }
  if (!found.url) throw new Error("usage: board.mjs URL [--statuses a,b] [--announce TEXT]");
  return found;
}

function browserPath() {
  for (const path of [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"])
    if (path && existsSync(path)) return path;
  throw new Error("no Chromium: `make` installs Debian's chromium package");
}

async function audit(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined")))
    await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return {
      violations: r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
      })),
      passes: r.passes.map((p) => p.id),
    };
  }, TAGS);
  return { name, ...result };
}

async function loaded(page, statuses, timeout) {
  await page.waitForFunction(
    (wanted) => {
      const shown = new Set(
        [...document.querySelectorAll("#releases tbody tr")].map((tr) => tr.dataset.status),
      );
      return shown.size > 0 && !shown.has(undefined) && wanted.every((s) => shown.has(s));
    },
    statuses,
    { timeout: timeout * 1000, polling: 500 },
  );
}

async function keyboard(page) {
  // Tab from the top of a freshly loaded page: every control is reached, each with a
  // visible focus.
  await page.reload();
  await loaded(page, [], 30);
  const reached = [];
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Tab");
    const focus = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      const visible = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
      return { id: el.id || el.tagName.toLowerCase(), visible };
    });
    if (!focus || reached.some((r) => r.id === focus.id)) break;
    reached.push(focus);
  }
  // Use a filter by keyboard alone: the next jurisdiction, then back to all.
  await page.focus("#jurisdiction");
  await page.keyboard.press("ArrowDown");
  const chosen = await page.$eval("#jurisdiction", (s) => s.value);
  await page.waitForFunction(
    (j) => [...document.querySelectorAll("#releases tbody tr")].every(
      (tr) => !tr.dataset.key || tr.dataset.key.startsWith(j + "/")),
    chosen,
    { timeout: 10000 },
  );
  return { reached, filtered_to: chosen };
}

async function main() {
  const opts = options(process.argv.slice(2));
  const report = { url: opts.url, tags: TAGS, audits: [], failures: [] };
  const browser = await chromium.launch({
    executablePath: browserPath(),
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(opts.url);
    await loaded(page, [], opts.timeout);
    // Everything the live region says, each change kept: a later change replaces the text
    // (rows of other bookings turning overdue on a busy board).
    await page.evaluate(() => {
      const region = document.getElementById("changes");
      window.announced = [];
      new MutationObserver(() => window.announced.push(region.textContent)).observe(region, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    if (opts.announce) {
      await page.waitForFunction(
        (text) => window.announced.some((said) => said.includes(text)),
        opts.announce,
        { timeout: opts.timeout * 1000, polling: 500 },
      );
    }
    await loaded(page, opts.statuses, opts.timeout);
    const region = await page.$eval("#changes", (el) => ({
      role: el.getAttribute("role"),
      live: el.getAttribute("aria-live"),
      text: el.textContent,
    }));
    report.live_region = { ...region, announced: await page.evaluate(() => window.announced) };
    // Countdowns tick every second: none may sit inside a live region.
    report.countdowns_in_live_region = await page.$$eval(
      ".countdown",
      (cells) => cells.filter((c) => c.closest("[aria-live]")).length,
    );
    report.times_without_zone = await page.$$eval("#releases tbody tr", (rows) =>
      rows
        .map((tr) => [...tr.cells].slice(5, 6).concat([...tr.cells].slice(7, 8)))
        .flat()
        .map((td) => td.textContent.trim())
        .filter((text) => text !== "-" && !/\b[A-Z]{2,5}\b$|GMT[+-]\d+$/.test(text)),
    );
    report.statuses = await page.$$eval("#releases tbody tr", (rows) => [
      ...new Set(rows.map((tr) => tr.dataset.status)),
    ]);
    report.audits.push(await audit(page, "every status"));
    await page.focus("#jurisdiction");
    await page.keyboard.press("Alt+ArrowDown"); // the filter's list open
    report.audits.push(await audit(page, "filter open"));
    await page.keyboard.press("Escape");
    report.keyboard = await keyboard(page);
    report.audits.push(await audit(page, "filtered by keyboard"));
    // 200 % zoom: a 1280-pixel window at twice the size.
    const zoomed = await browser.newPage({
      viewport: { width: 640, height: 1000 },
      deviceScaleFactor: 2,
    });
    await zoomed.goto(opts.url);
    await loaded(zoomed, opts.statuses, opts.timeout);
    report.audits.push(await audit(zoomed, "200% zoom"));
  } finally {
    await browser.close();
  }
  for (const a of report.audits)
    for (const v of a.violations) report.failures.push(`${a.name}: ${v.id} (${v.help})`);
  if (report.countdowns_in_live_region) report.failures.push("a countdown in a live region");
  if (report.times_without_zone.length)
    report.failures.push(`times without a zone: ${report.times_without_zone.slice(0, 3)}`);
  for (const r of report.keyboard.reached)
    if (!r.visible) report.failures.push(`no visible focus on ${r.id}`);
  for (const id of ["jurisdiction", "facility"])
    if (!report.keyboard.reached.some((r) => r.id === id))
      report.failures.push(`${id} not reached by Tab`);
  if (report.live_region.live !== "polite") report.failures.push("no polite live region");
  console.log(JSON.stringify(report, null, 1));
  process.exit(report.failures.length ? 1 : 0);
}

main().catch((error) => {
  console.log(JSON.stringify({ failures: [String(error && error.stack || error)] }));
  process.exit(2);
});
