package nl.kluis

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.util.Collections

/**
 * Events and cancellation through the binding (issue 14 item 4), against the real simulated
 * holders (`kluis-fixtures verifiers`): the progress of real collects (a plain holder, the
 * Belastingdienst's deferred assessment, a holder whose credentials fail verification), a
 * collect cancelled mid-way by cancelling its coroutine (the vault as it was, no keys left in
 * the app's store), and the lock state with its auto-lock.
 */
class EventsTest : VerifierNetworkTest() {
    /** A fresh offer of [holder] and the port it listens on. */
    private fun freshOfferAndPort(holder: String): Pair<Map<String, Any?>, Int> {
        for (i in 0 until 6) { // the holders listen on N..N+5 (docs/PRESENTING.md)
            val port = fixtures.portBase + i
            val (status, body) = LoopbackHttp.postJson("http://127.0.0.1:$port/admin/offer", """{"citizen": "daan"}""")
            if (status != 200) continue
            val offer = MiniJson.obj(body)
            if (offer["holder"] == holder) return offer to port
        }
        error("no holder $holder on ports N..N+5")
    }

    private suspend fun walletWith(store: HolderKeyStore? = null): Wallet {
        val dir = TestSupport.tempDir("vault")
        val keys = softwareKeyStore(TestSupport.tempDir("keys").path)
        val wallet = Wallet.create(dir.path, TestSupport.PIN, dangerousTestWalletOptions(), keys, store)
        wallet.setScheme(announced["scheme"] as String, File(announced["scheme_key_file"] as String).readText(), http)
        return wallet
    }

    /** Records every event, in order. */
    class Recorder : CollectListener {
        val events: MutableList<CollectEvent> = Collections.synchronizedList(mutableListOf())
        override fun onEvent(event: CollectEvent) {
            events += event
        }
        fun take(): List<CollectEvent> = synchronized(events) { events.toList().also { events.clear() } }
    }

    private suspend fun collect(wallet: Wallet, holder: String, listener: CollectListener?, s: CollectSettings = settings): CollectOutcome {
        val (offer, _) = freshOfferAndPort(holder)
        return wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, s), offer["tx_code"] as String, listener)
    }

    @Test
    fun aRealCollectReportsEachHolderStartedWaitingStoredOrFailed() = runBlocking<Unit> {
        walletWith().use { wallet ->
            val rec = Recorder()
            val duo = collect(wallet, "duo", rec)
            val issuer = duo.offer.issuer
            assertEquals(
                listOf(CollectEvent.Started(issuer), CollectEvent.Stored(issuer, duo.stored, emptyList())),
                rec.take(),
            )

            // The Belastingdienst prepares its assessment: waiting, then left pending.
            val bd = collect(wallet, "belastingdienst", rec, settings.copy(deferredWaitMs = 0uL))
            val bdIssuer = bd.offer.issuer
            val vct = "urn:nl:belastingdienst:income-assessment:1"
            assertEquals(
                listOf(
                    CollectEvent.Started(bdIssuer),
                    CollectEvent.WaitingForDeferred(bdIssuer, vct),
                    CollectEvent.Stored(bdIssuer, emptyList(), bd.pending),
                ),
                rec.take(),
            )

            // A holder whose credentials fail verification: Failed with the typed error, nothing stored.
            val (rdw, rdwPort) = freshOfferAndPort("rdw")
            val session = wallet.previewOffer(rdw["offer_uri"] as String, settings)
            assertEquals(204, LoopbackHttp.postJson("http://127.0.0.1:$rdwPort/admin/fault", """{"fault": "bad_signature"}""").first)
            try {
                val stored = wallet.credentials("nl").size
                assertThrows(KluisException.InvalidCredential::class.java) {
                    runBlocking { wallet.acceptOffer(session, rdw["tx_code"] as String, rec) }
                }
                val events = rec.take()
                assertEquals(2, events.size)
                assertEquals(CollectEvent.Started(session.preview().issuer), events[0])
                val failed = events[1] as CollectEvent.Failed
                assertEquals(session.preview().issuer, failed.issuer)
                assertTrue(failed.error.toString(), failed.error is KluisException.InvalidCredential)
                assertEquals(stored, wallet.credentials("nl").size)
            } finally {
                LoopbackHttp.postJson("http://127.0.0.1:$rdwPort/admin/fault", """{"fault": "none"}""")
            }

            // Picking up the deferred assessment reports per transaction too.
            var delivered: List<CredentialSummary> = emptyList()
            for (i in 1..40) {
                delivered = wallet.pollDeferred(settings, rec).delivered
                if (delivered.isNotEmpty()) break
                delay(250)
            }
            val polls = rec.take()
            assertEquals(vct, delivered.single().vct)
            assertEquals(CollectEvent.Stored(bdIssuer, delivered, emptyList()), polls.last())
            assertTrue(polls.toString(), polls.dropLast(1).all {
                it == CollectEvent.Started(bdIssuer) || it == CollectEvent.WaitingForDeferred(bdIssuer, vct)
            })
        }
    }

    /** A JCA store whose `sign` can be held until the wallet call is cancelled; it tracks its keys. */
    class GatedStore : JcaHolderKeyStore() {
        @Volatile var hold = false
        val signing = CompletableDeferred<Unit>()
        val signCancelled = CompletableDeferred<Unit>()
        val keys = MutableStateFlow(0)

        override suspend fun createKey(keyId: String, attestationChallenge: ByteArray?): HolderKeyInfo =
            super.createKey(keyId, attestationChallenge).also { keys.value = keyCount }

        override suspend fun deleteKey(keyId: String) {
            super.deleteKey(keyId)
            keys.value = keyCount
        }

        override suspend fun sign(keyId: String, signingInput: ByteArray): ByteArray {
            if (!hold) return super.sign(keyId, signingInput)
            signing.complete(Unit)
            try {
                awaitCancellation()
            } finally {
                signCancelled.complete(Unit)
            }
        }
    }

    @Test
    fun cancellingTheCoroutineCancelsTheCollectAndLeavesTheVaultAsItWas() = runBlocking<Unit> {
        val store = GatedStore()
        walletWith(store).use { wallet ->
            collect(wallet, "duo", null) // the primary key is made once and kept
            val keysBefore = store.keyCount
            val credentials = wallet.credentials("nl")
            val log = wallet.auditLog()

            store.hold = true
            val rec = Recorder()
            val job = launch(Dispatchers.Default) { collect(wallet, "uwv", rec) }
            // Mid-collect: token fetched, the copies' keys made, the first key proof being signed.
            withTimeout(30_000) { store.signing.await() }
            assertTrue("the collect made keys for its copies", store.keyCount > keysBefore)
            job.cancelAndJoin()

            // The Rust future was dropped: the store's sign was cancelled, the keys made deleted.
            withTimeout(30_000) { store.signCancelled.await() }
            withTimeout(30_000) { store.keys.first { it == keysBefore } }
            assertEquals(keysBefore, store.keyCount)
            assertEquals(credentials, wallet.credentials("nl"))
            assertTrue(wallet.pendingCredentials().isEmpty())
            assertEquals(log, wallet.auditLog())
            assertFalse(rec.events.any { it is CollectEvent.Stored })

            // The wallet works on: the same holder collects.
            store.hold = false
            assertEquals(1, collect(wallet, "uwv", null).stored.size)
        }
    }

    /**
     * The explicit token (what Swift's `withCancellation` raises when its `Task` is cancelled,
     * since uniffi's generated Swift ignores task cancellation): the call ends with `Cancelled`,
     * and leaves the vault and the app's store as they were.
     */
    @Test
    fun aCancelTokenStopsTheCollectWithCancelledAndLeavesTheVaultAsItWas() = runBlocking<Unit> {
        val store = GatedStore()
        walletWith(store).use { wallet ->
            collect(wallet, "duo", null)
            val keysBefore = store.keyCount
            val log = wallet.auditLog()
            val (offer, _) = freshOfferAndPort("cak")
            val session = wallet.previewOffer(offer["offer_uri"] as String, settings)
            store.hold = true
            val token = CancelToken()
            val call = async(Dispatchers.Default) {
                runCatching { wallet.acceptOffer(session, offer["tx_code"] as String, null, token) }
            }
            withTimeout(30_000) { store.signing.await() }
            token.cancel()
            assertTrue(token.isCancelled())
            val outcome = withTimeout(30_000) { call.await() }
            assertTrue(outcome.toString(), outcome.exceptionOrNull() is KluisException.Cancelled)
            assertEquals(keysBefore, store.keyCount)
            assertEquals(1, wallet.credentials("nl").size)
            assertEquals(log, wallet.auditLog())
            // A raised token stays raised: a call given it stops at once, before any request.
            assertThrows(KluisException.Cancelled::class.java) {
                runBlocking { wallet.previewOffer(freshOfferAndPort("cak").first["offer_uri"] as String, settings, token) }
            }
        }
    }

    /** Records lock changes. */
    class LockRecorder : LockListener {
        val changes = Channel<Pair<LockState, LockReason>>(Channel.UNLIMITED)
        override fun onLockState(state: LockState, reason: LockReason) {
            changes.trySend(state to reason)
        }
    }

    @Test
    fun theLockStateIsObservableAndTheWalletLocksItselfAfterTheTimeout() = runBlocking<Unit> {
        val (wallet, _) = TestSupport.newWallet()
        wallet.use {
            val rec = LockRecorder()
            wallet.setLockListener(rec)
            assertEquals(LockState.UNLOCKED, wallet.lockState())
            wallet.lock()
            assertEquals(LockState.LOCKED to LockReason.BY_APP, rec.changes.receive())
            assertEquals(LockState.LOCKED, wallet.lockState())
            assertThrows(KluisException.Locked::class.java) { runBlocking { wallet.credentials("nl") } }
            wallet.unlock(TestSupport.PIN)
            assertEquals(LockState.UNLOCKED to LockReason.UNLOCKED, rec.changes.receive())

            // Auto-lock: no call for 300 ms, and the wallet locks itself (keys dropped).
            wallet.setAutoLock(300uL)
            assertEquals(LockState.LOCKED to LockReason.AUTO_LOCK, withTimeout(30_000) { rec.changes.receive() })
            assertEquals(LockState.LOCKED, wallet.lockState())
            assertFalse(wallet.isUnlocked())
            assertThrows(KluisException.Locked::class.java) { runBlocking { wallet.credentials("nl") } }

            // Off again: unlocked stays unlocked.
            wallet.setAutoLock(null)
            wallet.unlock(TestSupport.PIN)
            assertEquals(LockState.UNLOCKED to LockReason.UNLOCKED, rec.changes.receive())
            wallet.wipe()
            assertEquals(LockState.WIPED to LockReason.WIPED, rec.changes.receive())
            assertEquals(LockState.WIPED, wallet.lockState())
            assertTrue(rec.changes.tryReceive().isFailure)
        }
    }
}
