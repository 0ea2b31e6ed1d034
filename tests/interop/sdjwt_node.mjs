// Node peer for tests/interop: @sd-jwt/sd-jwt-vc 0.19.0 (installed in bench/sdjwt-peers).
// stdin: {"cmd": "verify", presentation, issuer_public_jwk, nonce}
//     or {"cmd": "issue_present", issuer_private_jwk, issuer_public_jwk, holder_private_jwk,
//         holder_public_jwk, payload, frame, present_frame, nonce, aud}
// stdout: {"payload": ...} or {"presentation": ...}; exit 1 with {"error": msg} when refused.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../../bench/sdjwt-peers/package.json', import.meta.url));
const { SDJwtVcInstance } = require('@sd-jwt/sd-jwt-vc');
const { ES256, digest, generateSalt } = require('@sd-jwt/crypto-nodejs');

const input = JSON.parse(readFileSync(0, 'utf8'));
const base = {
  signAlg: ES256.alg, kbSignAlg: ES256.alg, hasher: digest, hashAlg: 'sha-256', saltGenerator: generateSalt,
  verifier: await ES256.getVerifier(input.issuer_public_jwk),
  kbVerifier: async (data, sig, payload) => (await ES256.getVerifier(payload.cnf.jwk))(data, sig),
};
try {
  if (input.cmd === 'verify') {
    const { payload } = await new SDJwtVcInstance(base).verify(input.presentation, { keyBindingNonce: input.nonce });
    console.log(JSON.stringify({ payload }));
  } else {
    const sdjwt = new SDJwtVcInstance({
      ...base,
      signer: await ES256.getSigner(input.issuer_private_jwk),
      kbSigner: await ES256.getSigner(input.holder_private_jwk),
    });
    const issued = await sdjwt.issue({ ...input.payload, cnf: { jwk: input.holder_public_jwk } }, input.frame);
    const presentation = await sdjwt.present(issued, input.present_frame, {
      kb: { payload: { aud: input.aud, nonce: input.nonce, iat: Math.floor(Date.now() / 1000) } },
    });
    console.log(JSON.stringify({ presentation }));
  }
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.message || e) }));
  process.exit(1);
}
