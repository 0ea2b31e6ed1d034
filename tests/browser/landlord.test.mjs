// The landlord's page in headless Chromium (Debian `chromium`, driven by playwright-core), with
// the real wallet core answering through the `kluis` command:
//   1. remote: the page shows an OpenID4VP QR + link; `kluis present-request LINK --yes` answers;
//      the page shows the verified claims, their issuers, and what was not disclosed;
//   2. in person, session QR: `kluis qr --session --yes --png F` waits; the PNG is uploaded, the page
//      sends the landlord's request over the relay, the wallet answers, the page shows the claims;
//   3. in person, offline: `kluis qr --offline --preset rental --to <landlord> --png F`; the PNG is uploaded
//      (standing in for the camera), decoded in the page by jsQR and verified by the server;
//      a replayed QR, a QR for another party and an altered payload are rejected with a reason.
// Run: `./dev test` (or `npm ci && node --test` here after `cargo build -p kluis-cli -p
// kluis-fixtures`). Env: KLUIS_BIN_DIR (default ../../target/debug), CHROMIUM (default
// /usr/bin/chromium), BROWSER_TEST_SHOTS=DIR to keep screenshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

const citizen = JSON.parse(readFileSync(join(root, "fixtures/data/citizens.json"), "utf8"))
  .citizens.find((c) => c.id === CITIZEN);

function run(bin, args, env = {}) {
  return new Promise((resolveRun) => {
    execFile(bin, args, { env: { ...process.env, KLUIS_PIN: PIN, ...env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => resolveRun({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
}

async function kluis(vault, args) {
  const r = await run(kluisBin, ["--vault", vault, ...args]);
  assert.equal(r.code, 0, `kluis ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

// Starts `kluis-fixtures verifiers --json`: the parties on stdout (one JSON object per line), the
// holders' offers for the citizen on stderr (`offer HOLDER: URI (tx_code CODE)`).
async function startFixtures() {
  const child = spawn(fixturesBin, ["verifiers", "--json", "--citizen", CITIZEN],
    { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const offers = [];
  const parties = new Map();
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderr += line + "\n";
    const m = /^offer (\S+): (\S+) \(tx_code (\S+)\)$/.exec(line);
    if (m) offers.push({ holder: m[1], offer_uri: m[2], tx_code: m[3] });
  });
  const lines = createInterface({ input: child.stdout });
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      child.kill();
      fail(new Error(`kluis-fixtures gave no parties: ${stderr}`));
    }, 30000);
    child.on("exit", (code) => fail(new Error(`kluis-fixtures exited ${code}: ${stderr}`)));
    lines.on("line", (line) => {
      const v = JSON.parse(line);
      if (v.party) parties.set(v.party, v);
      // Offers are written to stderr before the parties to stdout.
      if (parties.size >= 2) { clearTimeout(timer); ok(); }
    });
  });
  assert.ok(offers.length >= 5, `offers for ${CITIZEN} missing: ${stderr}`);
  return { child, offers, parties };
}

// Every claim the page shows must be the citizen's own data at that path (formatted).
function expectedText(value) {
  if (typeof value === "boolean") return value ? "ja" : "nee";
  return String(value);
}
function valueAt(obj, path) {
  return path.split("/").slice(1).reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
function asNumber(text) {
  // "€ 2.990,00" → 2990, "2025" → 2025 (the page is in Dutch).
  return Number(text.replace(/[^\d,-]/g, "").replace(",", "."));
}

async function shownCredentials(box) {
  return box.locator("article.credential").evaluateAll((arts) => arts.map((a) => ({
    vct: a.dataset.vct,
    issuer: a.querySelector(".issuer").textContent,
    claims: Array.from(a.querySelectorAll("tr[data-path]"))
      .map((tr) => ({ path: tr.dataset.path, value: tr.querySelector("td").textContent })),
    notDisclosed: Array.from(a.querySelectorAll("ul.not-disclosed li[data-path]"))
      .map((li) => li.dataset.path),
  })));
}

// The holders' small rental-purpose types carry a projection of the full type's data.
const BASE_TYPE = {
  "urn:nl:gemeente:brp-rental:1": "urn:nl:gemeente:brp-address:1",
  "urn:nl:uwv:income-rental:1": "urn:nl:uwv:income-statement:1",
  "urn:nl:cak:arrears-rental:1": "urn:nl:cak:care-arrears:1",
};
const BRP = "urn:nl:gemeente:brp-address:1";

// The standard rental application: name and current address, monthly income, no registered
// payment arrears, each verified; every value shown is the citizen's own; nothing else is shown.
function assertVerifiedRental(creds) {
  const base = (vct) => BASE_TYPE[vct] ?? vct;
  const byBase = Object.fromEntries(creds.map((c) => [base(c.vct), c]));
  const brp = byBase[BRP];
  assert.ok(brp, `no BRP address among ${creds.map((c) => c.vct)}`);
  const shown = creds.flatMap((c) => c.claims.map((x) => `${base(c.vct)}${x.path}`));
  for (const want of [`${BRP}/given_name`, `${BRP}/family_name`, `${BRP}/address/locality`,
    "urn:nl:uwv:income-statement:1/monthly_gross_income_eur",
    "urn:nl:cak:care-arrears:1/registered_payment_arrears"]) {
    assert.ok(shown.includes(want), `${want} not shown: ${shown}`);
  }
  // Asked for neither: never shown; the full BRP type names the BSN as not disclosed.
  for (const never of [`${BRP}/bsn`, `${BRP}/birthdate`, "urn:nl:uwv:income-statement:1/employers/0/name"]) {
    assert.ok(!shown.includes(never), `over-disclosure: ${never}`);
  }
  if (brp.vct === BRP) {
    assert.ok(brp.notDisclosed.includes("/bsn"), `BSN not listed as not disclosed: ${brp.notDisclosed}`);
  }
  assert.match(brp.issuer, /Utrecht/);
  for (const c of creds) {
    const data = citizen.credentials[base(c.vct)];
    assert.ok(data, `unexpected credential type ${c.vct}`);
    for (const { path, value } of c.claims) {
      const want = valueAt(data, path);
      if (typeof want === "number") assert.equal(asNumber(value), want, `${c.vct} ${path}`);
      else assert.equal(value, expectedText(want), `${c.vct} ${path}`);
    }
  }
}

// ./dev skips this file (with a message) only when `apt-get install chromium` fails; run by hand
// without Chromium or without `npm ci`, it fails and says what is missing.
let chromium = null;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  chromium = null;
}

test("landlord page: remote OpenID4VP, the citizen's session QR and offline QR, in headless Chromium", { timeout: 120000 }, async (t) => {
  assert.ok(chromium, "playwright-core is not installed: run `npm ci` in tests/browser");
  assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath}: apt-get install chromium (or set CHROMIUM)`);
  for (const b of [kluisBin, fixturesBin]) {
    assert.ok(existsSync(b), `${b} is not built: cargo build -p kluis-cli -p kluis-fixtures`);
  }
  const work = mkdtempSync(join(tmpdir(), "kluis-browser-"));
  const vault = join(work, "vault");
  const shots = process.env.BROWSER_TEST_SHOTS;
  const { child, offers, parties } = await startFixtures();
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  t.after(async () => {
    await browser.close().catch(() => {});
    child.kill();
    rmSync(work, { recursive: true, force: true });
  });

  const landlord = parties.get("woningcorporatie-eemland");
  const bank = parties.get("bank-utrecht");
  assert.ok(landlord && bank, `parties: ${[...parties.keys()]}`);

  await t.test("the citizen's wallet collects from the holders", async () => {
    await kluis(vault, ["init", "--dangerous-test-kdf"]);
    await kluis(vault, ["trust", "scheme", landlord.scheme, "--key", landlord.scheme_key_file]);
    for (const o of offers) {
      await kluis(vault, ["collect", o.offer_uri, "--tx-code", o.tx_code]);
    }
  });

  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // Content-Security-Policy violations and failed loads show up as console errors.
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  t.after(() => assert.deepEqual(pageErrors, [], "errors on the page"));

  await t.test("remote: the page's QR link, answered by the wallet, shows the verified claims", async () => {
    await page.goto(landlord.page_url);
    assert.equal(await page.getAttribute("html", "lang"), "nl");
    const link = await page.getAttribute("#remote", "data-openid4vp-link");
    assert.match(link, /^openid4vp:\/\/.*request_uri=/);
    assert.equal(await page.inputValue("#request-link"), link);
    // The QR the server drew carries exactly that link (read back with the page's own jsQR).
    const scanned = await page.$eval("#request-qr", (img) => {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      const code = jsQR(g.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
      return code && code.data;
    });
    assert.equal(scanned, link);

    await kluis(vault, ["present-request", link, "--yes"]);
    const box = page.locator('#remote-result[data-status="verified"]');
    await box.waitFor({ timeout: 15000 });
    assertVerifiedRental(await shownCredentials(box));
    assert.ok(!(await page.textContent("body")).includes(citizen.credentials[BRP].bsn),
      "the BSN is on the page");
    if (shots) await page.screenshot({ path: join(shots, "remote-verified.png"), fullPage: true });
  });

  await t.test("remote: a declined request shows that nothing was received", async () => {
    await page.goto(landlord.page_url);
    const link = await page.getAttribute("#remote", "data-openid4vp-link");
    await kluis(vault, ["present-request", link, "--decline"]);
    await page.locator('#remote-result[data-status="declined"]').waitFor({ timeout: 15000 });
    assert.equal(await page.locator("#remote-result article.credential").count(), 0);
  });

  await t.test("in person: the citizen's session QR — the page sends the landlord's request, the wallet consents", async () => {
    assert.ok(landlord.relay, "kluis-fixtures verifiers names no relay");
    const png = join(work, "session.png");
    // The wallet shows its session QR and waits for the party's request over the relay.
    const wallet = spawn(kluisBin, ["--vault", vault, "qr", "--session", "--relay", landlord.relay,
      "--yes", "--png", png, "--wait", "60"], { env: { ...process.env, KLUIS_PIN: PIN }, stdio: ["ignore", "pipe", "pipe"] });
    let walletErr = "";
    wallet.stderr.on("data", (d) => { walletErr += d; });
    const exited = new Promise((ok) => wallet.on("exit", (code) => ok(code)));
    t.after(() => wallet.kill());
    const payload = await new Promise((ok, fail) => {
      createInterface({ input: wallet.stdout }).once("line", ok);
      wallet.on("exit", (code) => fail(new Error(`kluis qr --session exited ${code}: ${walletErr}`)));
    });
    assert.match(payload, /^KS1:/);
    await page.setInputFiles("#qr-file", png);
    const box = page.locator('#qr-result[data-status="verified"]');
    await box.waitFor({ timeout: 20000 });
    assertVerifiedRental(await shownCredentials(box));
    assert.equal(await exited, 0, `kluis qr --session: ${walletErr}`);
    if (shots) await page.screenshot({ path: join(shots, "session-verified.png"), fullPage: true });
  });

  const qrPng = join(work, "citizen-qr.png");
  await t.test("in person: an uploaded picture of the citizen's offline QR is decoded and verified", async () => {
    await kluis(vault, ["qr", "--offline", "--preset", "rental", "--to", landlord.party,
      "--png", qrPng]);
    await page.setInputFiles("#qr-file", qrPng);
    const box = page.locator('#qr-result[data-status="verified"]');
    await box.waitFor({ timeout: 15000 });
    assertVerifiedRental(await shownCredentials(box));
    assert.ok(!(await page.textContent("body")).includes(citizen.credentials[BRP].bsn),
      "the BSN is on the page");
    if (shots) await page.screenshot({ path: join(shots, "qr-verified.png"), fullPage: true });
  });

  await t.test("in person: a photo-like picture of a fresh QR (rotated, smaller, JPEG) is read too", async () => {
    const fresh = join(work, "fresh.png");
    await kluis(vault, ["qr", "--offline", "--preset", "rental", "--to", landlord.party, "--png", fresh]);
    // Made in a scratch page: the QR drawn at an angle on a grey, unevenly lit desk, as JPEG.
    const scratch = await browser.newPage();
    const jpeg = await scratch.evaluate(async (pngB64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${pngB64}`;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = 1400; c.height = 1100;
      const g = c.getContext("2d");
      const light = g.createLinearGradient(0, 0, c.width, c.height);
      light.addColorStop(0, "#9a9a9a"); light.addColorStop(1, "#5f5f5f");
      g.fillStyle = light; g.fillRect(0, 0, c.width, c.height);
      g.translate(c.width / 2, c.height / 2);
      g.rotate((9 * Math.PI) / 180);
      const side = Math.min(900, img.width);
      g.drawImage(img, -side / 2, -side / 2, side, side);
      return c.toDataURL("image/jpeg", 0.85).split(",")[1];
    }, readFileSync(fresh).toString("base64"));
    await scratch.close();
    await page.setInputFiles("#qr-file", { name: "photo.jpg", mimeType: "image/jpeg", buffer: Buffer.from(jpeg, "base64") });
    const box = page.locator('#qr-result[data-status="verified"]');
    await box.waitFor({ timeout: 15000 });
    assertVerifiedRental(await shownCredentials(box));
    if (shots) writeFileSync(join(shots, "photo.jpg"), Buffer.from(jpeg, "base64"));
  });

  await t.test("in person: the same QR shown again is rejected as a replay", async () => {
    await page.setInputFiles("#qr-file", qrPng);
    await page.locator('#qr-result[data-status="rejected"]').waitFor({ timeout: 15000 });
    assert.match(await page.textContent("#qr-result .reason"), /replay/);
  });

  await t.test("in person: an altered payload is rejected with a reason", async () => {
    const payload = (await kluis(vault, ["qr", "--offline", "--preset", "rental", "--to",
      landlord.party])).trim().split("\n")[0];
    const i = Math.floor(payload.length / 2);
    const altered = payload.slice(0, i) + (payload[i] === "A" ? "B" : "A") + payload.slice(i + 1);
    await page.fill("#qr-text", altered);
    await page.click("#qr-text-form button[type=submit]");
    await page.locator('#qr-result[data-status="rejected"]').waitFor({ timeout: 15000 });
    assert.ok((await page.textContent("#qr-result .reason")).length > 0);
    if (shots) await page.screenshot({ path: join(shots, "qr-rejected.png"), fullPage: true });
  });

  if (bank) {
    await t.test("in person: a QR made for another party is rejected", async () => {
      const other = join(work, "for-bank.png");
      await kluis(vault, ["qr", "--offline", "--preset", "rental", "--to", bank.party,
        "--png", other]);
      await page.setInputFiles("#qr-file", other);
      await page.locator('#qr-result[data-status="rejected"]').waitFor({ timeout: 15000 });
      assert.match(await page.textContent("#qr-result .reason"), /aud/i);
    });
  }

  await t.test("the page reads in English too, and serves the same jsQR as npm's", async () => {
    await page.goto(new URL("/?lang=en", landlord.page_url).href);
    assert.equal(await page.getAttribute("html", "lang"), "en");
    const served = await (await fetch(new URL("/page/static/jsQR.js", landlord.page_url))).text();
    const npm = readFileSync(join(here, "node_modules/jsqr/dist/jsQR.js"), "utf8");
    assert.equal(served, npm, "fixtures/web/vendor/jsQR.js differs from the pinned npm jsqr");
  });
});
