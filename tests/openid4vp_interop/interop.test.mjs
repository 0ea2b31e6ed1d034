// kluis answers an OpenID4VP 1.0 verifier it did not write: the verifier side of
// @openid4vc/openid4vp 0.4.6 (request object by reference, plain DCQL, direct_post.jwt, response
// decryption and vp_token parsing) with the SD-JWT VC checks of @sd-jwt/sd-jwt-vc 0.19.0 (issuer
// signature, disclosures, status list, key binding with nonce and sd_hash) and `jose` for the
// JOSE callbacks the library leaves to its user. The request carries no kluis extension (no
// kluis_purpose, no state): purpose and retention come from the scheme's registration certificate
// in `verifier_info` (OpenID4VP 1.0 §5.11).
//
// It also asks the citizen to confirm a mortgage offer (`transaction_data`, built here, not by
// kluis) and checks the KB-JWT's hash with the library's verifyTransactionData.
//
// Steps: this verifier listens on a free loopback port; `kluis-fixtures verifiers --json
// --external-response-uri URI` lists it in the scheme as the external party and hands back its
// request-signing key and registration certificate; a fresh `kluis` vault pins the scheme and
// collects the citizen's full credentials from the holders; `kluis present-request LINK --yes`
// answers; the verifier checks the answer and that exactly the asked claims came, of two types.
//
// Run: `./dev test` (or `npm ci && node --test` here after `cargo build -p kluis-cli -p
// kluis-fixtures`). Env: KLUIS_BIN_DIR (default ../../target/debug).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as jose from "jose";
import { Openid4vpVerifier } from "@openid4vc/openid4vp";
import { setGlobalConfig } from "@openid4vc/utils";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { digest, ES256 } from "@sd-jwt/crypto-nodejs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const binDir = process.env.KLUIS_BIN_DIR || join(root, "target/debug");
const kluisBin = join(binDir, "kluis");
const fixturesBin = join(binDir, "kluis-fixtures");
const PIN = "582046";
const CITIZEN = "daan";
const BRP = "urn:nl:gemeente:brp-address:1";
const UWV = "urn:nl:uwv:income-statement:1";

// The loopback holders and this verifier speak plain http; the library wants https otherwise.
setGlobalConfig({ allowInsecureUrls: true });

const citizen = JSON.parse(readFileSync(join(root, "fixtures/data/citizens.json"), "utf8"))
  .citizens.find((c) => c.id === CITIZEN);

// Plain DCQL over two credential types: name and locality from the BRP, income from UWV.
const DCQL = {
  credentials: [
    {
      id: "person", format: "dc+sd-jwt", meta: { vct_values: [BRP] },
      claims: [{ path: ["given_name"] }, { path: ["family_name"] }, { path: ["address", "locality"] }],
    },
    {
      id: "income", format: "dc+sd-jwt", meta: { vct_values: [UWV] },
      claims: [{ path: ["year"] }, { path: ["monthly_gross_income_eur"] }],
    },
  ],
};
const ASKED = {
  person: { vct: BRP, paths: ["/address/locality", "/family_name", "/given_name"] },
  income: { vct: UWV, paths: ["/monthly_gross_income_eur", "/year"] },
};
// Claims of every SD-JWT VC that are not the citizen's data.
const ENVELOPE = new Set(["iss", "vct", "iat", "exp", "nbf", "cnf", "status", "sub", "vct#integrity", "_sd_alg"]);

function run(bin, args) {
  return new Promise((ok) => {
    execFile(bin, args, { env: { ...process.env, KLUIS_PIN: PIN }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => ok({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
}

async function kluis(vault, args) {
  const r = await run(kluisBin, ["--vault", vault, ...args]);
  assert.equal(r.code, 0, `kluis ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// `kluis-fixtures verifiers --json --external-response-uri URI`: the external party's line on
// stdout (`"external": true`), the holders' full offers on stderr (`offer HOLDER: URI (tx_code C)`).
async function startFixtures(responseUri) {
  const child = spawn(fixturesBin, ["verifiers", "--json", "--citizen", CITIZEN,
    "--external-response-uri", responseUri], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const offers = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderr += line + "\n";
    const m = /^offer ([^\s/]+): (\S+) \(tx_code (\S+)\)$/.exec(line);
    if (m) offers.push({ holder: m[1], offer_uri: m[2], tx_code: m[3] });
  });
  const parties = new Map();
  const external = await new Promise((ok, fail) => {
    const timer = setTimeout(() => { child.kill(); fail(new Error(`kluis-fixtures gave no external party: ${stderr}`)); }, 30000);
    child.on("exit", (code) => fail(new Error(`kluis-fixtures exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const v = JSON.parse(line);
      if (v.external) { clearTimeout(timer); ok(v); } else parties.set(v.party, v);
    });
  });
  return { child, offers, external, parties };
}

// The scheme's participant list, verified with the pinned scheme key: which issuer may issue
// which type with which key (what a verifier in the scheme trusts).
async function trustedIssuers(external) {
  const jwt = await (await fetch(external.scheme)).text();
  const key = await jose.importJWK(JSON.parse(readFileSync(external.scheme_key_file, "utf8")), "ES256");
  const { payload, protectedHeader } = await jose.jwtVerify(jwt, key, { algorithms: ["ES256"] });
  assert.equal(protectedHeader.typ, "participant-list+jwt");
  const me = payload.requesting_parties.find((p) => p.id === external.party);
  assert.deepEqual(me?.response_origins, [external.response_origin], "the scheme lists this verifier's origin");
  return new Map(payload.holders.map((h) => [h.credential_issuer, h]));
}

// The JOSE callbacks the library asks its user for, done with `jose`.
// `headerExtra`: what the client identifier prefix puts into the request object's header
// (`jwt`: the Verifier Attestation, OpenID4VP 1.0 §5.9.3).
function joseCallbacks(signingJwk, headerExtra = {}) {
  return {
    hash: (data, alg) => digest(data, alg),
    signJwt: async (_signer, { header, payload }) => {
      const key = await jose.importJWK(signingJwk, "ES256");
      const jwt = await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ ...header, ...headerExtra }).sign(key);
      const { d: _d, ...publicJwk } = signingJwk;
      return { jwt, signerJwk: publicJwk };
    },
    // kluis answers encrypted, not signed (JARM): a signed answer is refused.
    verifyJwt: async () => ({ verified: false }),
    encryptJwe: async () => { throw new Error("this verifier encrypts nothing"); },
    // x509_hash: nothing of the certificate's SAN is needed (the library asks all the same).
    getX509CertificateMetadata: () => ({ sanDnsNames: [], sanUriNames: [] }),
    decryptJwe: async (jwe, options) => {
      const session = [...sessions.values()].find((s) => s.encryptionJwk.kid === options?.jwk?.kid);
      if (!session) return { decrypted: false };
      const { plaintext } = await jose.compactDecrypt(jwe, await jose.importJWK(session.decryptionJwk, "ECDH-ES"));
      return { decrypted: true, decryptionJwk: session.encryptionJwk, payload: new TextDecoder().decode(plaintext) };
    },
  };
}

const sessions = new Map(); // id → { requestPayload, jar, encryptionJwk, decryptionJwk, result }

// Paths of every claim a verifier now has from a verified SD-JWT VC (envelope claims left out),
// as JSON pointers; arrays index by position.
function leafPaths(obj, prefix = "") {
  if (obj === null || typeof obj !== "object") return [prefix];
  const entries = Array.isArray(obj) ? obj.map((v, i) => [String(i), v]) : Object.entries(obj);
  return entries.flatMap(([k, v]) => (prefix === "" && ENVELOPE.has(k) ? [] : leafPaths(v, `${prefix}/${k}`)));
}
function valueAt(obj, pointer) {
  return pointer.split("/").slice(1).reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

// Checks one presentation as a standards-only verifier: @sd-jwt verifies the issuer signature
// (issuer and type as the scheme lists them), the disclosures, the status list (signed by the
// same issuer) and the KB-JWT (cnf key, nonce, sd_hash); aud and iat are checked here.
async function verifyPresentation(presentation, { nonce, clientId, issuers }) {
  const issuerJwt = presentation.split("~")[0];
  const { iss, vct } = jose.decodeJwt(issuerJwt);
  const listed = issuers.get(iss);
  assert.ok(listed, `issuer ${iss} is not in the scheme`);
  assert.ok(listed.credential_types.includes(vct), `the scheme does not list ${vct} for ${iss}`);
  const keyOf = async (jwk) => ES256.getVerifier(jwk);
  const issuerVerifier = async (data, sig) => {
    for (const k of listed.keys) if (await (await keyOf(k))(data, sig)) return true;
    return false;
  };
  const sdjwt = new SDJwtVcInstance({
    hasher: digest,
    verifier: issuerVerifier,
    statusVerifier: issuerVerifier,
    kbVerifier: async (data, sig, payload) => (await keyOf(payload.cnf.jwk))(data, sig),
  });
  const result = await sdjwt.verify(presentation, { keyBindingNonce: nonce });
  assert.ok(result.kb, "no key binding");
  assert.equal(result.kb.header.typ, "kb+jwt");
  assert.equal(result.kb.payload.aud, clientId, "KB-JWT aud is not this verifier's client_id");
  const age = Math.floor(Date.now() / 1000) - result.kb.payload.iat;
  assert.ok(age > -60 && age < 300, `KB-JWT iat is ${age} s old`);
  return result.payload;
}

// `pathId`: the request id in the response URI (`/response/ID`), for plain direct_post answers,
// which carry no state here.
async function handleResponse(body, pathId) {
  const form = Object.fromEntries(new URLSearchParams(body));
  // The JWE names the request's encryption key (`kid`): that is the request it answers.
  const kid = form.response ? jose.decodeProtectedHeader(form.response).kid : undefined;
  const session = kid ? [...sessions.values()].find((s) => s.encryptionJwk.kid === kid) : sessions.get(pathId);
  if (!session) throw new Error("the answer names no key of an open request");
  if (session.result !== undefined) throw new Error("this request was already answered");
  // An error response (§8.5; encrypted under direct_post.jwt, §8.3.1): the library parses only
  // answers with a vp_token, so an error is read here.
  const plain = form.response
    ? JSON.parse(new TextDecoder().decode((await jose.compactDecrypt(form.response,
      await jose.importJWK(session.decryptionJwk, "ECDH-ES"))).plaintext))
    : form;
  if (plain.error !== undefined) {
    session.result = { error: plain.error, encrypted: Boolean(form.response), fields: Object.keys(plain) };
    return session.result;
  }
  // (Openid4vpVerifier passes its callbacks on only when creating requests: given here.)
  const parsed = await session.verifier.parseOpenid4vpAuthorizationResponse({
    authorizationResponse: form,
    authorizationRequestPayload: session.requestPayload,
    callbacks: session.callbacks,
  });
  assert.equal(parsed.type, "dcql");
  if (session.requestPayload.response_mode === "direct_post.jwt") {
    assert.equal(parsed.jarm?.type, "Encrypted", "the answer was not encrypted to this verifier");
  } else {
    assert.equal(form.response, undefined);
  }
  const credentials = {};
  for (const [queryId, presentations] of Object.entries(parsed.dcql.presentations)) {
    assert.equal(presentations.length, 1, `${queryId}: one presentation`);
    credentials[queryId] = await verifyPresentation(presentations[0], {
      nonce: parsed.expectedNonce, clientId: session.requestPayload.client_id, issuers: session.issuers,
    });
  }
  session.result = { credentials, raw: parsed.dcql.presentations };
  return session.result;
}

test("an independent OpenID4VP 1.0 verifier (@openid4vc/openid4vp, @sd-jwt) gets exactly what it asked, of two types", { timeout: 120000 }, async (t) => {
  for (const b of [kluisBin, fixturesBin]) {
    assert.ok(existsSync(b), `${b} is not built: cargo build -p kluis-cli -p kluis-fixtures`);
  }
  const work = mkdtempSync(join(tmpdir(), "kluis-openid4vp-interop-"));
  const vault = join(work, "vault");
  const failures = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    try {
      const m = /^\/request\/([\w-]+)$/.exec(url.pathname);
      if (req.method === "GET" && m && sessions.has(m[1])) {
        res.writeHead(200, { "content-type": "application/oauth-authz-req+jwt" });
        res.end(sessions.get(m[1]).jar.authorizationRequestJwt);
        return;
      }
      const r = /^\/response(?:\/([\w-]+))?$/.exec(url.pathname);
      if (req.method === "POST" && r) {
        let body = "";
        for await (const chunk of req) body += chunk;
        await handleResponse(body, r[1]);
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
        return;
      }
      res.writeHead(404).end();
    } catch (e) {
      failures.push(e);
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_request", error_description: String(e.message) }));
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  const { child, offers, external, parties } = await startFixtures(`${base}/response`);
  t.after(() => {
    child.kill();
    server.close();
    rmSync(work, { recursive: true, force: true });
  });
  const issuers = await trustedIssuers(external);

  await t.test("a fresh vault collects the citizen's credentials", async () => {
    assert.ok(offers.length >= 5, `offers for ${CITIZEN}: ${offers.map((o) => o.holder)}`);
    await kluis(vault, ["init", "--dangerous-test-kdf"]);
    await kluis(vault, ["trust", "scheme", external.scheme, "--key", external.scheme_key_file]);
    for (const o of offers) await kluis(vault, ["collect", o.offer_uri, "--tx-code", o.tx_code]);
  });

  // One request as the library makes it (by reference, direct_post.jwt, the registration
  // certificate in verifier_info, no state, no kluis_purpose), answered by `kluis present-request
  // --yes`; the answer as the library and @sd-jwt verify it.
  async function ask(clientId, headerExtra, { registrationCertificate = external.registration_certificates[0], expectRefusal = false, decline = false, responseMode = "direct_post.jwt", transactionData = undefined, full = false, x5c = undefined } = {}) {
    const callbacks = joseCallbacks(external.signing_jwk, headerExtra);
    const verifier = new Openid4vpVerifier({ callbacks });
    const id = randomBytes(12).toString("base64url");
    const { publicKey, privateKey } = await jose.generateKeyPair("ECDH-ES", { crv: "P-256", extractable: true });
    const encryptionJwk = { ...(await jose.exportJWK(publicKey)), kid: `enc-${id}`, use: "enc", alg: "ECDH-ES" };
    const decryptionJwk = { ...(await jose.exportJWK(privateKey)), kid: `enc-${id}` };
    const created = await verifier.createOpenId4vpAuthorizationRequest({
      authorizationRequestPayload: {
        response_type: "vp_token",
        client_id: clientId,
        // direct_post: a response URI of its own (on the registered origin) tells the requests apart.
        response_uri: responseMode === "direct_post" ? `${base}/response/${id}` : external.response_uri,
        response_mode: responseMode,
        nonce: randomBytes(24).toString("base64url"),
        dcql_query: DCQL,
        client_metadata: {
          ...(responseMode === "direct_post.jwt"
            ? { jwks: { keys: [encryptionJwk] }, encrypted_response_enc_values_supported: ["A128GCM"] }
            : {}),
          vp_formats_supported: { "dc+sd-jwt": { "sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"] } },
        },
        verifier_info: [{ format: "registration_cert", data: registrationCertificate }],
        ...(transactionData ? { transaction_data: transactionData } : {}),
      },
      // The library's defaults: `iat`/`exp` set, `aud` the request_uri (OpenID4VP 1.0 §5.8 asks
      // "https://self-issued.me/v2" under static discovery; the wallet does not judge `aud`).
      jar: {
        requestUri: `${base}/request/${id}`,
        // x509_hash: the library's own x5c signer (it checks the client_id is the leaf's hash).
        jwtSigner: x5c
          ? { method: "x5c", alg: "ES256", x5c }
          : { method: "custom", alg: "ES256", kid: external.signing_jwk.kid },
        expiresInSeconds: 300,
      },
    });
    const requestPayload = created.authorizationRequestPayload;
    assert.equal(requestPayload.state, undefined);
    assert.equal(requestPayload.kluis_purpose, undefined);
    sessions.set(id, { verifier, callbacks, requestPayload, jar: created.jar, encryptionJwk, decryptionJwk, issuers, result: undefined });
    const link = created.authorizationRequest;
    assert.match(link, /^openid4vp:\/\/\?client_id=.*&request_uri=/);

    assert.equal(new URL(link).searchParams.get("client_id"), clientId);

    if (expectRefusal || decline) {
      const r = await run(kluisBin, ["--vault", vault, "present-request", link, decline ? "--decline" : "--yes"]);
      return { code: r.code, output: r.stderr + r.stdout, session: sessions.get(id) };
    }
    const output = await kluis(vault, ["present-request", link, "--yes"]);
    assert.deepEqual(failures.map((e) => e.stack), [], "the verifier rejected the answer");
    const { credentials, raw } = sessions.get(id).result ?? {};
    assert.ok(credentials, "the wallet sent no answer");
    // Both KB-JWTs carry kluis's association claim (the same set of keys), which this verifier
    // does not know: it verified each presentation all the same (docs/PRESENTING.md).
    const assoc = Object.values(raw).map((ps) => jose.decodeJwt(ps[0].split("~").pop()).kluis_assoc);
    assert.equal(assoc.length, 2);
    assert.ok(typeof assoc[0] === "string" && assoc[0] === assoc[1], `kluis_assoc: ${assoc}`);
    return full ? { credentials, raw, output, session: sessions.get(id) } : credentials;
  }

  // Exactly the asked claims of exactly the asked types, each with the citizen's own value.
  function assertExactlyAsked(credentials) {
    assert.deepEqual(Object.keys(credentials).sort(), Object.keys(ASKED).sort());
    for (const [queryId, { vct, paths }] of Object.entries(ASKED)) {
      const c = credentials[queryId];
      assert.equal(c.vct, vct);
      assert.deepEqual(leafPaths(c).sort(), paths, `${queryId}: disclosed claim paths`);
      for (const p of paths) assert.deepEqual(valueAt(c, p), valueAt(citizen.credentials[vct], p), `${queryId} ${p}`);
    }
    assert.equal(valueAt(credentials.person, "/bsn"), undefined);
  }

  await t.test("pre-registered client_id: plain request, direct_post.jwt, registration certificate in verifier_info", async () => {
    assertExactlyAsked(await ask(external.client_id, {}));
  });

  await t.test("verifier_attestation: client_id, the scheme's attestation in the request's jwt header", async () => {
    assertExactlyAsked(await ask(external.attested_client_id, { jwt: external.verifier_attestation }));
  });

  // HAIP 1.0: the library signs with the access certificate the scheme's CA issued (x5c), the
  // client_id is its x509_hash; the registration certificate names that hash.
  await t.test("x509_hash: client_id, the access certificate from the scheme's CA in x5c", async () => {
    assert.match(external.x509_client_id, /^x509_hash:[\w-]{43}$/);
    assertExactlyAsked(await ask(external.x509_client_id, {}, {
      x5c: external.x5c, registrationCertificate: external.x509_registration_certificates[0],
    }));
  });

  await t.test("x509_hash: with the registration certificate of the pre-registered identity (another sub): refused, nothing sent", async () => {
    const r = await ask(external.x509_client_id, {}, { x5c: external.x5c, expectRefusal: true });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /registration certificate is for another party/, r.output);
    assert.equal(r.session.result, undefined, "the wallet sent something");
  });

  await t.test("plain direct_post (unencrypted), pre-registered", async () => {
    assertExactlyAsked(await ask(external.client_id, {}, { responseMode: "direct_post" }));
  });

  // Transaction data (OpenID4VP 1.0 §5.1, B.3.3): this verifier writes its own entry of kluis's
  // mortgage-offer type, and checks the answer's KB-JWT hashes with the library's own
  // verifyTransactionData (SHA-256 over the entry string as sent).
  const offerEntry = (extra = {}) => Buffer.from(JSON.stringify({
    type: "urn:kluis:transaction:mortgage-offer:1", credential_ids: ["person"],
    transaction_data_hashes_alg: ["sha-256"], offer_id: "HYP-INTEROP-1",
    document_label: "Hypotheekofferte", document_sha256: randomBytes(32).toString("base64url"),
    amount_eur_cents: 35000000, ...extra,
  })).toString("base64url");

  await t.test("transaction data: the wallet shows the offer and the library finds its hash in the KB-JWT", async () => {
    const entry = offerEntry();
    const { credentials, raw, output, session } = await ask(external.client_id, {}, { transactionData: [entry], full: true });
    assertExactlyAsked(credentials);
    assert.match(output, /YOU CONFIRM the mortgage offer HYP-INTEROP-1: € 350\.000,00/, output);
    const kb = Object.fromEntries(Object.entries(raw).map(([q, ps]) => [q, jose.decodeJwt(ps[0].split("~").pop())]));
    assert.equal(kb.income.transaction_data_hashes, undefined, "only the confirming credential binds it");
    const matched = await session.verifier.verifyTransactionData({
      transactionData: session.requestPayload.transaction_data,
      credentials: Object.fromEntries(Object.entries(kb)
        .filter(([, p]) => p.transaction_data_hashes)
        .map(([q, p]) => [q, [{ transaction_data_hashes: p.transaction_data_hashes, transaction_data_hashes_alg: p.transaction_data_hashes_alg }]])),
    });
    assert.equal(matched.length, 1);
    assert.equal(matched[0].credentialId, "person");
    assert.equal(matched[0].presentations[0].hash, Buffer.from(await digest(entry, "sha-256")).toString("base64url"));
    assert.equal(kb.person.transaction_data_hashes_alg, "sha-256");
  });

  await t.test("transaction data of a type the wallet does not know: refused, nothing sent", async () => {
    const r = await ask(external.client_id, {}, { transactionData: [offerEntry({ type: "urn:example:payment:1" })], expectRefusal: true });
    assert.equal(r.code, 5, r.output);
    assert.match(r.output, /does not know/, r.output);
    assert.equal(r.session.result, undefined, "the wallet sent something");
  });

  await t.test("another party's registration certificate: refused, nothing sent", async () => {
    const landlord = parties.get("woningcorporatie-eemland");
    assert.ok(landlord?.registration_certificates?.length, "the landlord's certificate");
    const r = await ask(external.client_id, {}, { registrationCertificate: landlord.registration_certificates[0], expectRefusal: true });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /registration certificate/, r.output);
    assert.equal(r.session.result, undefined, "the wallet sent something");
  });

  await t.test("a decline reaches the verifier as access_denied, encrypted to it, with no data", async () => {
    const r = await ask(external.client_id, {}, { decline: true });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(failures.map((e) => e.stack), []);
    assert.equal(r.session.result?.error, "access_denied", JSON.stringify(r.session.result));
    assert.equal(r.session.result.encrypted, true);
    assert.ok(!r.session.result.fields.includes("vp_token"));
  });

  await t.test("the wallet's log records exactly those claims, to this party, with the certificate's purpose", async () => {
    const log = JSON.parse(await kluis(vault, ["--json", "log"]));
    // Answered: three times as the pre-registered party (direct_post.jwt, direct_post, the
    // transaction), once attested, once as x509_hash.
    for (const [audience, answers] of [[external.client_id, 3], [external.attested_client_id, 1], [external.x509_client_id, 1]]) {
      const shared = log.map((e) => e.event).filter((e) => e.type === "disclosed" && e.audience === audience);
      const expected = Array.from({ length: answers }, () => Object.values(ASKED).map((a) => a.paths)).flat();
      assert.deepEqual(shared.map((e) => [...e.claims].sort()).sort(), expected.sort(),
        `${audience}: ${JSON.stringify(shared)}`);
      for (const e of shared) {
        assert.equal(e.purpose, "rental-screening");
        assert.equal(e.retention_days, 14);
        assert.equal(e.delivery, "received");
      }
    }
  });
});
