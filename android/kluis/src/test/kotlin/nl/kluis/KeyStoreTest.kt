package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.PIN
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.security.SecureRandom
import java.util.concurrent.ConcurrentHashMap

/**
 * The device secret comes from the app's key store through the foreign trait: a Kotlin
 * implementation here stands in for the Android Keystore one.
 */
class KeyStoreTest {
    /**
     * Keeps one random secret per vault in memory, and the rollback counters in files of
     * [counterDir] as the Android store does; can be switched off like a locked keystore.
     */
    class InMemoryKeyStore(
        val counterDir: File = TestSupport.tempDir("counters"),
        private val keeps: Boolean = true,
        val secrets: ConcurrentHashMap<String, ByteArray> = ConcurrentHashMap(),
    ) : DeviceKeyStore {
        val calls = ConcurrentHashMap<String, Int>()
        @Volatile var available = true
        private val counters = RollbackCounterFiles(counterDir)

        override fun deviceSecret(vaultId: String): ByteArray {
            calls.merge("get", 1, Int::plus)
            if (!available) throw DeviceKeyStoreException.Unavailable("user authentication required")
            return secrets.computeIfAbsent(vaultId) { ByteArray(32).also { SecureRandom().nextBytes(it) } }.copyOf()
        }

        override fun deleteDeviceSecret(vaultId: String) {
            calls.merge("delete", 1, Int::plus)
            secrets.remove(vaultId)
            counters.delete(vaultId)
        }

        override fun keepsRollbackCounter() = keeps

        override fun rollbackCounter(vaultId: String): ULong? = if (keeps) counters.get(vaultId) else null

        override fun raiseRollbackCounter(vaultId: String, value: ULong) {
            if (keeps) counters.raise(vaultId, value)
        }
    }

    /** A copy of the vault directory's files (the vault file and its WAL), to put back later. */
    private fun snapshot(dir: File): Map<File, ByteArray> = dir.listFiles()!!.filter { it.isFile }.associateWith { it.readBytes() }

    private fun putBack(dir: File, copy: Map<File, ByteArray>) {
        dir.listFiles()!!.filter { it.isFile && it !in copy }.forEach { it.delete() }
        copy.forEach { (f, bytes) -> f.writeBytes(bytes) }
    }

    @Test
    fun anOlderCopyOfTheVaultFilePutBackIsRefusedAsRolledBack() = runBlocking<Unit> {
        val store = InMemoryKeyStore()
        val (wallet, dir) = newWallet(store)
        wallet.close()
        val older = snapshot(dir)
        val counter = File(store.counterDir, "${store.secrets.keys.single()}.counter")
        assertTrue(counter.isFile)
        // Used after the copy was taken: a change of PIN is written, the counter raised.
        Wallet.open(dir.path, store).use {
            it.unlock(PIN)
            it.changePin(PIN, "135790")
        }
        val newer = snapshot(dir)

        // The old file put back (the old PIN in it): refused before any PIN is tried.
        putBack(dir, older)
        val e = assertThrows(KluisException.Integrity::class.java) {
            runBlocking { Wallet.open(dir.path, store).use { w -> w.unlock(PIN) } }
        }
        assertTrue(e.record, e.record.contains("rolled back"))
        // The current file still opens, with the new PIN.
        putBack(dir, newer)
        Wallet.open(dir.path, store).use {
            it.unlock("135790")
            assertTrue(it.isUnlocked())
        }
    }

    @Test
    fun aVaultFromBeforeTheStoreKeptCountersTakesOneUpAndARemovedCounterIsTampering() = runBlocking<Unit> {
        // Made while the app's store kept no counter (as every foreign store before this one).
        val without = InMemoryKeyStore(keeps = false)
        val (wallet, dir) = newWallet(without)
        wallet.close()
        val older = snapshot(dir)
        // The app's store now keeps counters: the vault takes one up at its next unlock.
        val store = InMemoryKeyStore(secrets = without.secrets)
        Wallet.open(dir.path, store).use { it.unlock(PIN) }
        val counter = File(store.counterDir, "${store.secrets.keys.single()}.counter")
        assertTrue(counter.isFile)
        // From then on an older copy is a rollback ...
        val newer = snapshot(dir)
        putBack(dir, older)
        val rolledBack = assertThrows(KluisException.Integrity::class.java) {
            runBlocking { Wallet.open(dir.path, store).use { w -> w.unlock(PIN) } }
        }
        assertTrue(rolledBack.record, rolledBack.record.contains("rolled back"))
        // ... and a counter removed is tampering, not a vault from before counters.
        putBack(dir, newer)
        assertTrue(counter.delete())
        val removed = assertThrows(KluisException.Integrity::class.java) {
            runBlocking { Wallet.open(dir.path, store).use { w -> w.unlock(PIN) } }
        }
        assertTrue(removed.record, removed.record.contains("rollback counter for this vault is missing"))
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
