package nl.kluis

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.spec.ECGenParameterSpec

/**
 * Holder keys in the app's key store (issue 14 item 1) through the binding, against the real
 * simulated holders and landlord (`kluis-fixtures verifiers`). [JcaHolderKeyStore] over
 * `java.security` stands in for the Android Keystore: the wallet gets public keys and
 * signatures, never a private key. A store that needs the user, never answers, throws, or signs
 * with another key gives a typed error, stores nothing and sends nothing.
 */
class HolderKeysTest : VerifierNetworkTest() {
    /** What [FaultyStore] does wrong on `sign`. */
    enum class Fault { NONE, NEEDS_USER, USER_CANCELS, NEVER_ANSWERS, OTHER_KEY, THROWS }

    /** The JCA store with faults on request; counts the signatures it made. */
    class FaultyStore : JcaHolderKeyStore() {
        @Volatile var fault = Fault.NONE
        @Volatile var signatures = 0
        /** Completed when a `sign` that never answers was cancelled by the wallet. */
        val cancelled = CompletableDeferred<Unit>()
        private val stranger = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()

        override suspend fun sign(keyId: String, signingInput: ByteArray): ByteArray = when (fault) {
            Fault.NONE -> super.sign(keyId, signingInput).also { signatures++ }
            Fault.NEEDS_USER -> throw HolderKeyException.UserAuthenticationRequired()
            Fault.USER_CANCELS -> throw HolderKeyException.Cancelled()
            Fault.NEVER_ANSWERS -> try {
                awaitCancellation()
            } finally {
                cancelled.complete(Unit)
            }
            Fault.OTHER_KEY -> Signature.getInstance("SHA256withECDSA").run {
                initSign(stranger.private)
                update(signingInput)
                sign()
            }
            Fault.THROWS -> throw IllegalStateException("a bug in the app's store")
        }
    }

    private fun resultStatus(url: String) = MiniJson.obj(LoopbackHttp.get(url).second)["status"]

    /** A wallet whose credential keys live in [store], with the scheme pinned. */
    private suspend fun walletWith(store: HolderKeyStore, timeoutMs: ULong = 120_000uL): Pair<Wallet, File> {
        val dir = TestSupport.tempDir("vault")
        val keys = softwareKeyStore(TestSupport.tempDir("keys").path)
        val wallet = Wallet.create(dir.path, TestSupport.PIN, dangerousTestWalletOptions(), keys, store, timeoutMs)
        wallet.setScheme(announced["scheme"] as String, File(announced["scheme_key_file"] as String).readText(), http)
        return wallet to dir
    }

    private suspend fun collect(wallet: Wallet, holder: String): CollectOutcome {
        val offer = freshOffer(holder)
        return wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
    }

    @Test
    fun keysFromTheAppsStoreSignProofsAndThePresentationTheLandlordVerifies() = runBlocking<Unit> {
        val store = FaultyStore()
        val (wallet, _) = walletWith(store)
        wallet.use {
            for (holder in listOf("gemeente-utrecht", "uwv", "cak")) collect(wallet, holder)
            val copies = wallet.credentials("en").sumOf { it.copies.toInt() }
            // One key per copy; copy 0 of every credential shares the wallet's primary key.
            val credentials = wallet.credentials("en").size
            assertEquals(copies - credentials + 1, store.keyCount)
            assertEquals("one key proof per copy", copies, store.signatures)

            val (resultUrl, link) = newRequest()
            val session = wallet.startPresentation(link, "en", http)
            wallet.acceptPresentation(session, session.defaultChoice(), http)
            assertEquals("verified", resultStatus(resultUrl))
            assertEquals("one KB-JWT per credential", copies + 3, store.signatures)

            // Deleting a credential deletes the keys of its own copies from the app's store.
            val one = wallet.credentials("en").first { it.copies > 1u }
            wallet.deleteCredential(one.id)
            assertEquals(copies - credentials + 1 - (one.copies.toInt() - 1), store.keyCount)
        }
    }

    @Test
    fun aStoreThatNeedsTheUserOrIsCancelledIsTypedAndStoresNothing() = runBlocking<Unit> {
        val store = FaultyStore()
        val (wallet, _) = walletWith(store)
        wallet.use {
            for ((fault, error) in listOf(
                Fault.NEEDS_USER to KluisException.UserAuthenticationRequired::class.java,
                Fault.USER_CANCELS to KluisException.Cancelled::class.java,
                Fault.THROWS to KluisException.HolderKey::class.java,
            )) {
                store.fault = fault
                val before = wallet.auditLog().size
                assertThrows(fault.name, error) { runBlocking { collect(wallet, "duo") } }
                assertTrue(wallet.credentials("nl").isEmpty())
                assertTrue(wallet.pendingCredentials().isEmpty())
                assertEquals(before, wallet.auditLog().size)
                // Only the wallet's primary key (made once, kept): the copies' keys are gone.
                assertEquals(fault.name, 1, store.keyCount)
            }
            store.fault = Fault.NONE
            assertEquals(1, collect(wallet, "duo").stored.size)
        }
    }

    @Test
    fun aStoreThatNeverAnswersTimesOutAndItsCoroutineIsCancelled() = runBlocking<Unit> {
        val store = FaultyStore()
        val (wallet, _) = walletWith(store, timeoutMs = 300uL)
        wallet.use {
            store.fault = Fault.NEVER_ANSWERS
            val e = assertThrows(KluisException.HolderKey::class.java) { runBlocking { collect(wallet, "duo") } }
            assertTrue(e.reason, e.reason.contains("did not answer in time"))
            withTimeout(5_000) { store.cancelled.await() }
            assertTrue(wallet.credentials("nl").isEmpty())
            assertEquals(1, store.keyCount)
        }
    }

    @Test
    fun aSignatureByAnotherKeyIsRefusedBeforeAnythingIsSent() = runBlocking<Unit> {
        val store = FaultyStore()
        val (wallet, _) = walletWith(store)
        wallet.use {
            store.fault = Fault.OTHER_KEY
            val e = assertThrows(KluisException.HolderKey::class.java) { runBlocking { collect(wallet, "uwv") } }
            assertTrue(e.reason, e.reason.contains("does not verify"))
            assertTrue(wallet.credentials("nl").isEmpty())

            store.fault = Fault.NONE
            for (holder in listOf("gemeente-utrecht", "uwv", "cak")) collect(wallet, holder)
            store.fault = Fault.OTHER_KEY
            val (resultUrl, link) = newRequest()
            val session = wallet.startPresentation(link, "en", http)
            assertThrows(KluisException.HolderKey::class.java) {
                runBlocking { wallet.acceptPresentation(session, session.defaultChoice(), http) }
            }
            assertEquals("pending", resultStatus(resultUrl))
            assertFalse(wallet.auditLog().any { it.event is AuditEvent.Disclosed })
        }
    }
}
