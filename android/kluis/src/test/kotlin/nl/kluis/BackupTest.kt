package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.issueSamples
import nl.kluis.TestSupport.newWallet
import nl.kluis.TestSupport.tempDir
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * Backup on one "phone", restore on another (its own directory and software key store, a new
 * PIN), through the binding: the credentials and the log come back, the log ends with the
 * restore, and wrong words or a damaged file are typed errors that leave nothing behind.
 */
class BackupTest {
    private val newPin = "135790"

    @Test
    fun aBackupFromOnePhoneRestoresOnAnother() = runBlocking<Unit> {
        val (old, _) = newWallet()
        val words = old.makeRecoverySecret()
        assertEquals(12, words.split(' ').size)
        val samples = issueSamples("sanne", old.holderPublicJwk())
        for ((issuer, jwk) in samples.issuers) old.addTrustedIssuer(issuer, jwk)
        for (s in samples.credentials) old.importCredential(s.compact)
        val credentials = old.credentials("nl")
        val file = File(tempDir("backup"), "wallet.kbak")
        val info = old.backupToFile(file.path)
        assertEquals(credentials.size.toULong(), info.credentials)
        assertEquals(0uL, info.deviceBound)
        val log = old.auditLog()
        assertTrue(log.last().event is AuditEvent.BackupMade)
        old.wipe()

        val dir = tempDir("new-phone")
        val restored = restoreWallet(dir.path, file.readBytes(), words, newPin, dangerousTestWalletOptions(), softwareKeyStore(tempDir("new-keys").path))
        restored.wallet.use {
            assertFalse(restored.report.alreadyRestored)
            assertTrue(restored.report.needsReissuance.isEmpty())
            assertEquals(credentials.size.toULong(), restored.report.credentials)
            assertEquals(credentials, it.credentials("nl"))
            assertTrue(it.credentials("nl").none { c -> c.needsReissuance })
            val after = it.auditLog()
            assertEquals(log.dropLast(1), after.dropLast(1))
            val last = after.last().event
            assertTrue("$last", last is AuditEvent.Restored && last.backupId == info.backupId)
            it.lock()
            assertThrows(KluisException.WrongPin::class.java) { runBlocking { it.unlock(TestSupport.PIN) } }
            it.unlock(newPin)
            // And it backs up again without the words; as bytes for the platform's picker.
            val again = it.backupBytes()
            assertTrue(again.bytes.size.toULong() == again.info.bytes)
            it.backupStored(again.info)
            assertTrue(it.auditLog().last().event is AuditEvent.BackupMade)
        }
    }

    @Test
    fun wrongWordsAndDamagedBackupsRestoreNothing() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        val (other, _) = newWallet()
        val words = wallet.makeRecoverySecret()
        val otherWords = other.makeRecoverySecret()
        val bytes = wallet.backupBytes().bytes
        assertThrows(KluisException.NoRecoverySecret::class.java) { runBlocking { newWallet().first.backupBytes() } }
        val dir = tempDir("target")
        val keys = softwareKeyStore(tempDir("keys").path)
        val options = dangerousTestWalletOptions()
        assertThrows(KluisException.WrongRecoverySecret::class.java) {
            runBlocking { restoreWallet(dir.path, bytes, otherWords, newPin, options, keys) }
        }
        assertThrows(KluisException.InvalidInput::class.java) {
            runBlocking { restoreWallet(dir.path, bytes, "not the words", newPin, options, keys) }
        }
        assertThrows(KluisException.BackupDamaged::class.java) {
            runBlocking { restoreWallet(dir.path, bytes.copyOf(bytes.size - 1), words, newPin, options, keys) }
        }
        assertFalse(walletExists(dir.path))
        restoreWallet(dir.path, bytes, words, newPin, options, keys).wallet.use {
            assertTrue(it.hasRecoverySecret())
        }
        // The same backup again: nothing changes.
        val twice = restoreWallet(dir.path, bytes, words, newPin, options, keys)
        twice.wallet.use { assertTrue(twice.report.alreadyRestored) }
    }
}
