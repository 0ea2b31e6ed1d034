package nl.kluis

import java.security.GeneralSecurityException
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Provider
import java.security.Signature
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap

/**
 * Holder keys over `java.security`: a P-256 key pair per credential copy from the JCA provider,
 * signing with `SHA256withECDSA`. The private keys stay in this object (process memory) and are
 * never handed to the wallet, which sees only public keys and signatures.
 *
 * For the JVM (tests, tools) and devices without a hardware key store; on Android use
 * [nl.kluis.android.AndroidKeystoreHolderKeyStore], which keeps the keys in StrongBox or the TEE
 * and survives process restarts (this one does not: a wallet opened again in a new process has
 * to collect its credentials again).
 *
 * @param provider the JCA provider to use, or `null` for the platform's default.
 */
open class JcaHolderKeyStore(private val provider: Provider? = null) : HolderKeyStore {
    private val keys = ConcurrentHashMap<String, KeyPair>()

    /** How many keys this store holds now (for tests and diagnostics). */
    val keyCount: Int get() = keys.size

    override suspend fun createKey(keyId: String, attestationChallenge: ByteArray?): HolderKeyInfo = guarded {
        val generator = provider?.let { KeyPairGenerator.getInstance("EC", it) } ?: KeyPairGenerator.getInstance("EC")
        generator.initialize(ECGenParameterSpec("secp256r1"))
        val pair = generator.generateKeyPair()
        check(keys.putIfAbsent(keyId, pair) == null) { "key id in use" }
        // X.509 SubjectPublicKeyInfo DER; no attestation in software.
        HolderKeyInfo(pair.public.encoded, emptyList())
    }

    override suspend fun sign(keyId: String, signingInput: ByteArray): ByteArray = guarded {
        val pair = keys[keyId] ?: throw HolderKeyException.KeyGone()
        val signature = provider?.let { Signature.getInstance(ALGORITHM, it) } ?: Signature.getInstance(ALGORITHM)
        signature.initSign(pair.private)
        signature.update(signingInput)
        signature.sign() // ASN.1 DER; the wallet accepts DER or raw r||s
    }

    override suspend fun deleteKey(keyId: String) {
        keys.remove(keyId)
    }

    /** Maps JCA exceptions onto the binding's error; no key material in the reason. */
    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: GeneralSecurityException) {
        throw HolderKeyException.Unavailable(e.javaClass.simpleName)
    }

    private companion object {
        const val ALGORITHM = "SHA256withECDSA"
    }
}
