package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.PIN
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** The vault's life cycle through the binding: create, PIN checks, lock, reopen, change PIN, wipe. */
class VaultTest {
    @Test
    fun createReturnsAnUnlockedWalletThatExistsOnDisk() = runBlocking<Unit> {
        val (wallet, dir) = newWallet()
        wallet.use {
            assertTrue(it.isUnlocked())
            assertTrue(walletExists(dir.path))
            val status = it.status()
            assertTrue(status.unlocked)
            assertEquals(0u, status.failedAttempts)
            assertEquals(dangerousTestWalletOptions().kdf, status.kdf)
            assertTrue("creation is logged", status.auditEntries >= 1uL)
        }
        assertFalse(walletExists(TestSupport.tempDir("empty").path))
    }

    @Test
    fun wrongPinCarriesAttemptsLeftAndRightPinUnlocks() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            it.lock()
            assertFalse(it.isUnlocked())
            val e = assertThrows(KluisException.WrongPin::class.java) { runBlocking { it.unlock("000000") } }
            // The default policy: 10 attempts in all, this was the first wrong one; no wait yet.
            assertEquals(9u, e.attemptsLeft)
            assertEquals(0uL, e.retryAfterSecs)
            assertEquals(1u, it.status().failedAttempts)
            it.unlock(PIN)
            assertTrue(it.isUnlocked())
            assertEquals("a right PIN resets the count", 0u, it.status().failedAttempts)
        }
    }

    @Test
    fun lockedWalletRefusesDataAccess() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            it.lock()
            assertThrows(KluisException.Locked::class.java) { runBlocking { it.credentials("nl") } }
            assertThrows(KluisException.Locked::class.java) { runBlocking { it.holderPublicJwk() } }
        }
    }

    @Test
    fun reopenedWalletIsLockedAndOpensWithThePin() = runBlocking<Unit> {
        val keys = softwareKeyStore(TestSupport.tempDir("keys").path)
        val (wallet, dir) = newWallet(keys)
        val jwk = wallet.use { it.holderPublicJwk() }
        Wallet.open(dir.path, keys).use {
            assertFalse(it.isUnlocked())
            it.unlock(PIN)
            assertEquals("the holder key survives a reopen", jwk, it.holderPublicJwk())
        }
    }

    @Test
    fun openingAMissingWalletSaysSo() {
        assertThrows(KluisException.NoWallet::class.java) {
            runBlocking { Wallet.open(TestSupport.tempDir("none").path, softwareKeyStore(TestSupport.tempDir("keys").path)) }
        }
    }

    @Test
    fun changePinChecksTheOldPinAndTakesTheNewOne() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            assertThrows(KluisException.WrongPin::class.java) { runBlocking { it.changePin("999999", "135790") } }
            it.changePin(PIN, "135790")
            it.lock()
            assertThrows(KluisException.WrongPin::class.java) { runBlocking { it.unlock(PIN) } }
            it.unlock("135790")
            assertTrue(it.auditLog().any { e -> e.event is AuditEvent.PinChanged })
        }
    }

    @Test
    fun wipeRemovesTheWalletAndRetiresTheHandle() = runBlocking<Unit> {
        val (wallet, dir) = newWallet()
        wallet.use {
            it.wipe()
            assertFalse(walletExists(dir.path))
            assertFalse(it.isUnlocked())
            assertThrows(KluisException.Wiped::class.java) { runBlocking { it.status() } }
        }
    }

    @Test
    fun kdfBelowTheFloorIsRefused() {
        val weak = recommendedWalletOptions().let { it.copy(kdf = it.kdf.copy(memoryKib = 1024u)) }
        val e = assertThrows(KluisException::class.java) {
            runBlocking {
                Wallet.create(TestSupport.tempDir("weak").path, PIN, weak, softwareKeyStore(TestSupport.tempDir("keys").path))
            }
        }
        assertTrue("${e::class.simpleName}", e is KluisException.InvalidInput)
        assertNotNull(e.message)
    }
}
