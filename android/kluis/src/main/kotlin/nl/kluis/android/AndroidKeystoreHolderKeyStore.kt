package nl.kluis.android

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import nl.kluis.HolderKeyException
import nl.kluis.HolderKeyInfo
import nl.kluis.HolderKeyStore
import java.security.GeneralSecurityException
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.Signature
import java.security.spec.ECGenParameterSpec

/**
 * Holder keys in the Android Keystore: one non-exportable P-256 signing key per credential copy,
 * in StrongBox where the device has one (else the TEE), with the platform's key attestation chain
 * (the attestation challenge the wallet passes goes into the leaf certificate).
 *
 * With [userAuthentication] the keys are bound to the user: every signature needs a fresh
 * biometric or device-credential authentication, which [userAuthentication] performs by showing a
 * `BiometricPrompt` with the `Signature` as its `CryptoObject`:
 *
 * ```kotlin
 * val store = AndroidKeystoreHolderKeyStore { signature ->
 *     suspendCancellableCoroutine { cont ->
 *         BiometricPrompt(activity, executor, object : BiometricPrompt.AuthenticationCallback() {
 *             override fun onAuthenticationSucceeded(r: BiometricPrompt.AuthenticationResult) = cont.resume(Unit)
 *             override fun onAuthenticationError(code: Int, msg: CharSequence) =
 *                 cont.resumeWithException(HolderKeyException.Cancelled())
 *         }).authenticate(promptInfo, BiometricPrompt.CryptoObject(signature))
 *     }
 * }
 * ```
 * Without it (`null`) a key bound to the user fails with `UserAuthenticationRequired`, which the
 * wallet call reports as `KluisException.UserAuthenticationRequired`.
 *
 * Android-only (not compiled by the JVM tests, which run [nl.kluis.JcaHolderKeyStore]; see
 * docs/BINDINGS.md).
 */
class AndroidKeystoreHolderKeyStore(
    private val preferStrongBox: Boolean = true,
    private val userAuthentication: (suspend (Signature) -> Unit)? = null,
) : HolderKeyStore {
    private val keyStore: KeyStore by lazy { KeyStore.getInstance(PROVIDER).apply { load(null) } }

    override suspend fun createKey(keyId: String, attestationChallenge: ByteArray?): HolderKeyInfo =
        withContext(Dispatchers.IO) {
            guarded {
                val alias = alias(keyId)
                generate(alias, attestationChallenge, preferStrongBox)
                val chain = keyStore.getCertificateChain(alias).orEmpty().map { it.encoded }
                val public = keyStore.getCertificate(alias).publicKey.encoded
                HolderKeyInfo(public, if (attestationChallenge != null) chain else emptyList())
            }
        }

    override suspend fun sign(keyId: String, signingInput: ByteArray): ByteArray {
        val signature = withContext(Dispatchers.IO) {
            guarded {
                val key = keyStore.getKey(alias(keyId), null) as? PrivateKey ?: throw HolderKeyException.KeyGone()
                Signature.getInstance("SHA256withECDSA").apply { initSign(key) }
            }
        }
        // Keys bound to the user: the app authenticates this very Signature (suspends here).
        userAuthentication?.invoke(signature)
        return withContext(Dispatchers.IO) {
            guarded {
                signature.update(signingInput)
                signature.sign()
            }
        }
    }

    override suspend fun deleteKey(keyId: String) = withContext(Dispatchers.IO) {
        guarded {
            if (keyStore.containsAlias(alias(keyId))) keyStore.deleteEntry(alias(keyId))
        }
    }

    private fun alias(keyId: String) = "nl.kluis.holder.$keyId"

    private fun generate(alias: String, challenge: ByteArray?, strongBox: Boolean) {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
            .setDigests(KeyProperties.DIGEST_SHA256)
            .apply {
                if (challenge != null) setAttestationChallenge(challenge)
                if (strongBox && Build.VERSION.SDK_INT >= 28) setIsStrongBoxBacked(true)
                if (userAuthentication != null) {
                    setUserAuthenticationRequired(true)
                    if (Build.VERSION.SDK_INT >= 30) {
                        // A fresh authentication for every signature (timeout 0).
                        setUserAuthenticationParameters(
                            0,
                            KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL,
                        )
                    }
                }
            }
            .build()
        val generator = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, PROVIDER)
        try {
            generator.initialize(spec)
            generator.generateKeyPair()
        } catch (e: StrongBoxUnavailableException) {
            generate(alias, challenge, strongBox = false)
        }
    }

    /** Maps platform exceptions onto the binding's error; no key material in the reason. */
    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: HolderKeyException) {
        throw e
    } catch (e: UserNotAuthenticatedException) {
        throw HolderKeyException.UserAuthenticationRequired()
    } catch (e: KeyPermanentlyInvalidatedException) {
        throw HolderKeyException.KeyGone()
    } catch (e: GeneralSecurityException) {
        throw HolderKeyException.Unavailable(e.javaClass.simpleName)
    } catch (e: java.io.IOException) {
        throw HolderKeyException.Unavailable(e.javaClass.simpleName)
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
    }
}
