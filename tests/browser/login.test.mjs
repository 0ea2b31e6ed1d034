// The holder's login page in headless Chromium (Debian `chromium`, driven by playwright-core):
// `kluis-fixtures holders --login-holder duo` makes DUO offer only the authorization code flow
// (HAIP 1.0); `kluis collect OFFER` prints the login URL and listens on its loopback redirect
// URI; Chromium opens the URL, the citizen fills in the simulated DigiD form and submits; the
// holder redirects the browser to the CLI's listener, and the CLI finishes the collect (PKCE,
// `iss`, DPoP). A wrong password stays on the page with a message and no redirect.
// Run: `./dev test` (or `npm ci && node --test login.test.mjs` here after `cargo build -p kluis-cli
// -p kluis-fixtures`). Env: KLUIS_BIN_DIR (default ../../target/debug), CHROMIUM (default
// /usr/bin/chromium).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const binDir = process.env.KLUIS_BIN_DIR || join(root, "target/debug");
const kluisBin = join(binDir, "kluis");
const fixturesBin = join(binDir, "kluis-fixtures");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const PIN = "582046";
const CITIZEN = "daan";
const PASSWORD = "kluis-test"; // fixtures TEST_PASSWORD

function run(args) {
  return new Promise((ok) => {
    execFile(kluisBin, args, { env: { ...process.env, KLUIS_PIN: PIN } },
      (error, stdout, stderr) => ok({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
}

let chromium = null;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  chromium = null;
}

test("a login holder: kluis collect, the login form in headless Chromium, back on the loopback redirect", { timeout: 120000 }, async (t) => {
  assert.ok(chromium, "playwright-core is not installed: run `npm ci` in tests/browser");
  assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath}: apt-get install chromium (or set CHROMIUM)`);
  const work = mkdtempSync(join(tmpdir(), "kluis-login-"));
  const vault = join(work, "vault");
  const fixtures = spawn(fixturesBin, ["holders", "--json", "--login-holder", "duo", "--citizen", CITIZEN],
    { stdio: ["ignore", "pipe", "ignore"] });
  const duo = await new Promise((ok) => {
    createInterface({ input: fixtures.stdout }).once("line", (l) => ok(JSON.parse(l)));
  });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  t.after(async () => {
    await browser.close().catch(() => {});
    fixtures.kill();
    rmSync(work, { recursive: true, force: true });
  });
  assert.equal(duo.holder, "duo");
  assert.equal(duo.tx_code, "");
  assert.equal((await run(["--vault", vault, "init", "--dangerous-test-kdf"])).code, 0);
  assert.equal((await run(["--vault", vault, "trust", "scheme", duo.scheme, "--key", duo.scheme_key_file])).code, 0);

  const collect = spawn(kluisBin, ["--vault", vault, "--json", "collect", duo.offer_uri],
    { env: { ...process.env, KLUIS_PIN: PIN, KLUIS_BROWSER: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  collect.stdout.on("data", (d) => { stdout += d; });
  const done = new Promise((ok) => collect.on("exit", (code) => ok(code)));
  const url = await new Promise((ok) => {
    createInterface({ input: collect.stderr }).on("line", (l) => { if (l.startsWith("http://")) ok(l); });
  });

  const page = await browser.newPage();
  await page.goto(url);
  assert.match(await page.title(), /Inloggen/);
  // A wrong password: the page says so, no redirect.
  await page.fill("#citizen_id", CITIZEN);
  await page.fill("#password", "wrong");
  await page.click("#login");
  await page.waitForSelector("#error");
  assert.match(page.url(), /\/authorize$/);
  // The right one: the browser lands on the CLI's loopback listener.
  await page.fill("#citizen_id", CITIZEN);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/cb\?/), page.click("#login")]);
  assert.match(await page.textContent("body"), /you can close this window/);
  assert.equal(await done, 0);
  const out = JSON.parse(stdout);
  assert.equal(out.offer.needs_login, true);
  assert.equal(out.stored[0].vct, "urn:nl:duo:student-debt:1");
  const list = JSON.parse((await run(["--vault", vault, "--json", "list"])).stdout);
  assert.equal(list.length, 1);
});
