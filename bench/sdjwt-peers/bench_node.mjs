// The shared workload (workload.json) with @sd-jwt/sd-jwt-vc 0.19.0 on Node: issue,
// present (5 disclosures + KB-JWT), verify. Prints one JSON line of microseconds per op.
import { readFileSync } from 'node:fs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { ES256, digest, generateSalt } from '@sd-jwt/crypto-nodejs';

const w = JSON.parse(readFileSync(new URL('./workload.json', import.meta.url), 'utf8'));
const seconds = Number(process.env.PEER_SECONDS ?? 3);

const issuerKeys = await ES256.generateKeyPair();
const holderKeys = await ES256.generateKeyPair();
const sdjwt = new SDJwtVcInstance({
  signer: await ES256.getSigner(issuerKeys.privateKey),
  verifier: await ES256.getVerifier(issuerKeys.publicKey),
  signAlg: ES256.alg,
  kbSigner: await ES256.getSigner(holderKeys.privateKey),
  kbSignAlg: ES256.alg,
  // The library's documented way: the KB verifier takes the holder key from cnf.jwk.
  kbVerifier: async (data, sig, payload) => (await ES256.getVerifier(payload.cnf.jwk))(data, sig),
  hasher: digest,
  hashAlg: 'sha-256',
  saltGenerator: generateSalt,
});

// Every member and element selectively disclosable, as kluis's DisclosurePolicy::all().
function frameFor(value) {
  if (Array.isArray(value)) {
    const f = { _sd: value.map((_, i) => i) };
    value.forEach((v, i) => { if (v && typeof v === 'object') f[i] = frameFor(v); });
    return f;
  }
  const f = { _sd: Object.keys(value) };
  for (const [k, v] of Object.entries(value)) if (v && typeof v === 'object') f[k] = frameFor(v);
  return f;
}

const now = Math.floor(Date.now() / 1000);
const payload = {
  iss: w.iss, vct: w.vct, iat: now - 60, exp: now + 86400,
  cnf: { jwk: holderKeys.publicKey }, ...w.claims,
};
const frame = frameFor(w.claims);
const presentFrame = Object.fromEntries(w.present.map((p) => [p.slice(1), true]));
const kb = () => ({ kb: { payload: { aud: w.aud, nonce: w.nonce, iat: Math.floor(Date.now() / 1000) } } });

const issued = await sdjwt.issue(payload, frame);
const presentation = await sdjwt.present(issued, presentFrame, kb());
if (presentation.split('~').length !== 7) throw new Error('expected 5 disclosures + KB-JWT');
const checked = await sdjwt.verify(presentation, { keyBindingNonce: w.nonce });
if (checked.payload.given_name !== w.claims.given_name || checked.payload.address !== undefined) {
  throw new Error('peer verify returned unexpected claims');
}

async function time(fn) {
  for (let i = 0; i < 50; i++) await fn(); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() - start < budget) { await fn(); n++; }
  return Number(process.hrtime.bigint() - start) / 1e3 / n;
}

const out = {
  peer: 'node @sd-jwt/sd-jwt-vc 0.19.0',
  issue_us: await time(() => sdjwt.issue(payload, frame)),
  present_us: await time(() => sdjwt.present(issued, presentFrame, kb())),
  verify_us: await time(() => sdjwt.verify(presentation, { keyBindingNonce: w.nonce })),
};
console.log(JSON.stringify(out));
