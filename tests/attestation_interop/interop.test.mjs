// What kluis sends a holder that requires attestation-based client authentication and key
// attestations (HAIP 1.0 §4.3-4.4), verified by an implementation kluis did not write: the
// authorization server side of @openid4vc/oauth2 0.4.6 (Oauth2AuthorizationServer
// .verifyClientAttestation: the Wallet Attestation's typ, x5c signature, exp, cnf; the PoP's typ,
// signature by cnf, iss = sub, aud, exp) and the issuer side of @openid4vc/openid4vci 0.4.6
// (Openid4vciIssuer.verifyCredentialRequestJwtProof: the jwt proof, its key_attestation header,
// and that the proof is signed by an attested key). `jose` and node:crypto do the signature
// callbacks the libraries leave to their user.
//
// Steps: `attestation_artifacts` (a kluis-tests example) starts the wallet provider, DUO and the
// scheme on loopback, lets a fresh kluis wallet collect, and prints every attestation, PoP and
// key proof DUO accepted; this test hands each to the libraries, and checks that the same
// libraries refuse a PoP whose audience is another server and a proof by a key the attestation
// does not cover (so a pass is not a library that accepts anything).
//
// Run: `./dev test` (or `npm ci && node --test` here after
// `cargo build -p kluis-tests --example attestation_artifacts`). Env: KLUIS_BIN_DIR (default
// ../../target/debug).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as jose from "jose";
import { Oauth2AuthorizationServer } from "@openid4vc/oauth2";
import { Openid4vciIssuer } from "@openid4vc/openid4vci";
import { setGlobalConfig } from "@openid4vc/utils";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const binDir = process.env.KLUIS_BIN_DIR || join(root, "target/debug");
const artifactsBin = join(binDir, "examples/attestation_artifacts");

// The loopback holder speaks plain http; the libraries want https otherwise.
setGlobalConfig({ allowInsecureUrls: true });

function artifacts() {
  return new Promise((ok, fail) => {
    execFile(artifactsBin, [], { maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      error ? fail(new Error(`${artifactsBin}: ${error.message}\n${stderr}`)) : ok(JSON.parse(stdout.trim().split("\n").pop())));
  });
}

// Trust: the wallet provider's certificate as the scheme lists it, and nothing else.
function callbacks(trustedCertB64) {
  return {
    hash: (data) => createHash("sha256").update(data).digest(),
    generateRandom: async (n) => new Uint8Array(n),
    signJwt: async () => { throw new Error("this test signs nothing"); },
    verifyJwt: async (signer, { compact }) => {
      let key;
      if (signer.method === "jwk") {
        key = await jose.importJWK(signer.publicJwk, "ES256");
      } else if (signer.method === "x5c") {
        if (signer.x5c[0] !== trustedCertB64) return { verified: false };
        key = new X509Certificate(Buffer.from(signer.x5c[0], "base64")).publicKey;
      } else {
        return { verified: false };
      }
      try {
        await jose.compactVerify(compact, key, { algorithms: ["ES256"] });
      } catch {
        return { verified: false };
      }
      return { verified: true, signerJwk: signer.publicJwk ?? (await jose.exportJWK(key)) };
    },
  };
}

test("the libraries accept kluis's wallet attestation, PoPs and attested key proof", async () => {
  const a = await artifacts();
  const cb = callbacks(a.wallet_provider_certificate);
  const as = new Oauth2AuthorizationServer({ callbacks: cb });
  const issuer = new Openid4vciIssuer({ callbacks: cb });

  // PAR and token (with its DPoP nonce retry): each request its own PoP.
  assert.ok(a.client_auth.length >= 2, "attestation at PAR and token");
  const jtis = new Set();
  for (const { attestation, pop } of a.client_auth) {
    const v = await as.verifyClientAttestation({
      authorizationServer: a.authorization_server,
      clientAttestationJwt: attestation,
      clientAttestationPopJwt: pop,
    });
    assert.equal(v.clientAttestation.payload.sub, "kluis-wallet");
    assert.equal(v.clientAttestation.header.typ, "oauth-client-attestation+jwt");
    jtis.add(v.clientAttestationPop.payload.jti);
  }
  assert.equal(jtis.size, a.client_auth.length, "a fresh jti per PoP");
  // One wallet attestation for the issuance.
  assert.equal(new Set(a.client_auth.map((c) => c.attestation)).size, 1);

  // One jwt proof for the batch, with a key attestation covering every copy's key.
  assert.equal(a.proofs.length, 1);
  const p = await issuer.verifyCredentialRequestJwtProof({
    jwt: a.proofs[0],
    issuerMetadata: { credentialIssuer: { credential_issuer: a.credential_issuer } },
  });
  assert.ok(p.keyAttestation, "the proof carries a key attestation");
  assert.equal(p.keyAttestation.header.typ, "key-attestation+jwt");
  assert.equal(p.keyAttestation.payload.attested_keys.length, a.copies);
  assert.equal(p.keyAttestation.payload.nonce, p.payload.nonce, "for the holder's c_nonce");
});

test("the same libraries refuse a PoP for another server and a proof by an unattested key", async () => {
  const a = await artifacts();
  const cb = callbacks(a.wallet_provider_certificate);
  const as = new Oauth2AuthorizationServer({ callbacks: cb });
  const { attestation, pop } = a.client_auth[0];
  await assert.rejects(as.verifyClientAttestation({
    authorizationServer: "https://another-holder.example",
    clientAttestationJwt: attestation,
    clientAttestationPopJwt: pop,
  }));
  // An untrusted provider certificate: the attestation's signature is not accepted.
  const strict = new Oauth2AuthorizationServer({ callbacks: callbacks("MIIB-not-the-provider") });
  await assert.rejects(strict.verifyClientAttestation({
    authorizationServer: a.authorization_server,
    clientAttestationJwt: attestation,
    clientAttestationPopJwt: pop,
  }));
  // kluis's key attestation in the header of a proof signed by another key.
  const keyAttestation = JSON.parse(Buffer.from(a.proofs[0].split(".")[0], "base64url")).key_attestation;
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256");
  const payload = JSON.parse(Buffer.from(a.proofs[0].split(".")[1], "base64url"));
  const forged = await new jose.CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ typ: "openid4vci-proof+jwt", alg: "ES256", jwk: await jose.exportJWK(publicKey), key_attestation: keyAttestation })
    .sign(privateKey);
  const issuer = new Openid4vciIssuer({ callbacks: cb });
  await assert.rejects(issuer.verifyCredentialRequestJwtProof({
    jwt: forged,
    issuerMetadata: { credentialIssuer: { credential_issuer: a.credential_issuer } },
  }), /attested_keys/);
});
