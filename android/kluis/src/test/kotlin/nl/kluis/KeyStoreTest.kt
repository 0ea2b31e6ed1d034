package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.PIN
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.security.SecureRandom
import java.util.concurrent.ConcurrentHashMap

/**
 * The device secret comes from the app's key store through the foreign trait: a Kotlin
 * implementation here stands in for the Android Keystore one.
 */
class KeyStoreTest {
    /** Keeps one random secret per vault in memory; can be switched off like a locked keystore. */
    class InMemoryKeyStore : DeviceKeyStore {
        val secrets = ConcurrentHashMap<String, ByteArray>()
        val calls = ConcurrentHashMap<String, Int>()
        @Volatile var available = true

        override fun deviceSecret(vaultId: String): ByteArray {
            calls.merge("get", 1, Int::plus)
            if (!available) throw DeviceKeyStoreException.Unavailable("user authentication required")
            return secrets.computeIfAbsent(vaultId) { ByteArray(32).also { SecureRandom().nextBytes(it) } }.copyOf()
        }

        override fun deleteDeviceSecret(vaultId: String) {
            calls.merge("delete", 1, Int::plus)
            secrets.remove(vaultId)
        }
    }

    @Test
    fun theWalletUsesTheKotlinKeyStoreForItsDeviceSecret() = runBlocking<Unit> {
        val store = InMemoryKeyStore()
        val (wallet, dir) = newWallet(store)
        assertEquals(1, store.secrets.size)
        assertEquals(32, store.secrets.values.first().size)
        wallet.use { it.lock() }
        Wallet.open(dir.path, store).use {
            it.unlock(PIN)
            assertTrue(it.isUnlocked())
        }
        assertTrue((store.calls["get"] ?: 0) >= 2)
    }

    @Test
    fun anotherDevicesSecretDoesNotOpenTheVault() = runBlocking<Unit> {
        val store = InMemoryKeyStore()
        val (wallet, dir) = newWallet(store)
        wallet.close()
        val stolen = InMemoryKeyStore() // the vault file copied to a device without the secret
        val e = assertThrows(KluisException::class.java) {
            runBlocking { Wallet.open(dir.path, stolen).use { w -> w.unlock(PIN) } }
        }
        // The right PIN alone is not enough: the app is told the device key is gone, so it can
        // offer recovery instead of asking for the PIN again.
        assertTrue("${e::class.simpleName}", e is KluisException.DeviceKeyChanged)
    }

    @Test
    fun aKeyStoreFailureReachesTheAppAsAnErrorNotACrash() = runBlocking<Unit> {
        val store = InMemoryKeyStore()
        val (wallet, _) = newWallet(store)
        wallet.use {
            it.lock()
            store.available = false
            val e = assertThrows(KluisException::class.java) { runBlocking { it.unlock(PIN) } }
            assertTrue(e.message.orEmpty(), e is KluisException.Internal)
            store.available = true
            it.unlock(PIN)
            assertTrue(it.isUnlocked())
        }
    }

    @Test
    fun wipeDeletesTheDeviceSecret() = runBlocking<Unit> {
        val store = InMemoryKeyStore()
        val (wallet, _) = newWallet(store)
        val secret = store.secrets.values.first().copyOf()
        wallet.use { it.wipe() }
        assertEquals(1, store.calls["delete"])
        assertTrue(store.secrets.isEmpty())
    }
}
