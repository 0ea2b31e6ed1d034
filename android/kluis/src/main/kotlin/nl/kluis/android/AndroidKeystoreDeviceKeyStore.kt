package nl.kluis.android

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import nl.kluis.DeviceKeyStore
import nl.kluis.DeviceKeyStoreException
import nl.kluis.RollbackCounterFiles
import java.io.File
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.Mac
import javax.crypto.SecretKey

/**
 * The vault's device secret from the Android Keystore: a non-exportable HMAC-SHA256 key per vault
 * (in StrongBox where the device has one) computes the secret as HMAC(key, label || vault id).
 * The secret is the same on every call, never stored anywhere, and gone with the key: deleting
 * the key (wipe, or the OS invalidating it) makes a copied vault file permanently unopenable.
 *
 * Each vault's rollback counter is a file in [counterDir], which should be
 * `context.noBackupFilesDir`: outside the vault directory and outside every backup, so an older
 * vault file put back (from a backup, or by hand) is refused ([RollbackCounterFiles] says what
 * remains).
 *
 * Android-only (not compiled by the JVM tests; see docs/BINDINGS.md).
 */
class AndroidKeystoreDeviceKeyStore(
    counterDir: File,
    private val preferStrongBox: Boolean = true,
) : DeviceKeyStore {
    private val keyStore: KeyStore by lazy { KeyStore.getInstance(PROVIDER).apply { load(null) } }
    private val counters = RollbackCounterFiles(counterDir)

    override fun deviceSecret(vaultId: String): ByteArray = guarded {
        val mac = Mac.getInstance(KeyProperties.KEY_ALGORITHM_HMAC_SHA256)
        mac.init(keyFor(vaultId))
        mac.doFinal("$LABEL$vaultId".toByteArray(Charsets.UTF_8))
    }

    override fun deleteDeviceSecret(vaultId: String) = guarded {
        if (keyStore.containsAlias(alias(vaultId))) keyStore.deleteEntry(alias(vaultId))
        counters.delete(vaultId)
    }

    override fun keepsRollbackCounter(): Boolean = true

    override fun rollbackCounter(vaultId: String): ULong? = counters.get(vaultId)

    override fun raiseRollbackCounter(vaultId: String, value: ULong) = counters.raise(vaultId, value)

    private fun alias(vaultId: String) = "nl.kluis.device-secret.$vaultId"

    @Synchronized
    private fun keyFor(vaultId: String): SecretKey =
        (keyStore.getKey(alias(vaultId), null) as? SecretKey) ?: generate(alias(vaultId))

    private fun generate(alias: String): SecretKey {
        fun spec(strongBox: Boolean) = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
            .setDigests(KeyProperties.DIGEST_SHA256)
            .apply { if (strongBox && Build.VERSION.SDK_INT >= 28) setIsStrongBoxBacked(true) }
            .build()
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_HMAC_SHA256, PROVIDER)
        return try {
            generator.init(spec(preferStrongBox))
            generator.generateKey()
        } catch (e: StrongBoxUnavailableException) {
            generator.init(spec(false))
            generator.generateKey()
        }
    }

    /** Maps platform exceptions onto the binding's error; no key material in the reason. */
    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: UserNotAuthenticatedException) {
        throw DeviceKeyStoreException.Unavailable("user authentication required")
    } catch (e: GeneralSecurityException) {
        throw DeviceKeyStoreException.Unavailable(e.javaClass.simpleName)
    } catch (e: java.io.IOException) {
        throw DeviceKeyStoreException.Io(e.javaClass.simpleName)
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val LABEL = "kluis device secret v1:"
    }
}
