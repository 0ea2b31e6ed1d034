package nl.kluis

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.util.Base64

/**
 * In person through the binding (issue 14 item 3), against the real fixture landlord's desk
 * (`kluis-fixtures verifiers`: its page's `POST /page/verify-qr` is what the desk's scanner
 * posts, `GET /page/result/{state}` what its screen shows). The citizen shows a session QR, the
 * desk sends the landlord's signed request over the relay, the wallet shows the same consent
 * model as a remote request and answers over the channel — the relay of the QR, or a channel
 * implemented here in Kotlin (as an app carries it over BLE). An offline QR made through the
 * binding verifies at the desk once.
 */
class InPersonTest : VerifierNetworkTest() {
    private val desk get() = announced["page_url"] as String
    private val relay get() = announced["relay"] as String

    /** A wallet holding Daan's address, income and care arrears, status-checked. */
    private suspend fun collectedWallet(): Wallet {
        val (wallet, _) = TestSupport.newWallet()
        val dir = File(System.getProperty("kluis.typeMetadataDir") ?: error("kluis.typeMetadataDir is not set"))
        wallet.setTypeMetadata(dir.listFiles { f -> f.name.endsWith(".json") }!!.sorted().map { it.readText() })
        wallet.setScheme(announced["scheme"] as String, File(announced["scheme_key_file"] as String).readText(), http)
        for (holder in listOf("gemeente-utrecht", "uwv", "cak")) {
            val offer = freshOffer(holder)
            wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
        }
        assertTrue(wallet.checkStatus(http).all { it.status == CredentialState.VALID })
        return wallet
    }

    /** The desk scans `text` (what its camera read). */
    private fun scan(text: String): Map<String, Any?> {
        val (status, body) = LoopbackHttp.postJson("${desk}page/verify-qr", text)
        assertEquals(body, 200, status)
        return MiniJson.obj(body)
    }

    /** What the desk's screen shows for the session `state` once it is no longer pending. */
    private suspend fun deskResult(state: String): Map<String, Any?> {
        repeat(200) {
            val (status, body) = LoopbackHttp.get("${desk}page/result/$state")
            assertEquals(body, 200, status)
            val r = MiniJson.obj(body)
            if (r["status"] != "pending") return r
            delay(50)
        }
        error("the desk's session $state stayed pending")
    }

    @Suppress("UNCHECKED_CAST")
    private fun receivedPaths(result: Map<String, Any?>): Set<String> =
        (result["credentials"] as List<Map<String, Any?>>)
            .flatMap { c -> (c["claims"] as List<Map<String, Any?>>).map { it["path"] as String } }
            .toSet()

    /** An app's own channel: here over the same relay with plain java.net (an app: BLE, NFC). */
    class KotlinChannel(private val relayBase: String, sessionId: ByteArray) : SessionChannel {
        private val mailbox = "$relayBase/${Base64.getUrlEncoder().withoutPadding().encodeToString(sessionId)}"
        @Volatile var received = 0
        @Volatile var sent = 0

        override suspend fun receiveRequest(waitMs: ULong): ByteArray = withContext(Dispatchers.IO) {
            val deadline = System.currentTimeMillis() + waitMs.toLong()
            while (true) {
                val left = deadline - System.currentTimeMillis()
                if (left <= 0) throw SessionChannelException.TimedOut()
                val c = java.net.URI("$mailbox/request?wait=${(left / 1000).coerceIn(1, 30)}").toURL()
                    .openConnection() as java.net.HttpURLConnection
                c.readTimeout = 40_000
                val status = c.responseCode
                if (status == 200) {
                    received++
                    return@withContext c.inputStream.use { it.readBytes() }
                }
                c.disconnect()
                if (status != 204) throw SessionChannelException.Unavailable("relay answered HTTP $status")
            }
            @Suppress("UNREACHABLE_CODE")
            error("unreachable")
        }

        override suspend fun sendResponse(message: ByteArray): Unit = withContext(Dispatchers.IO) {
            val c = java.net.URI("$mailbox/response").toURL().openConnection() as java.net.HttpURLConnection
            c.requestMethod = "POST"
            c.doOutput = true
            c.setRequestProperty("Content-Type", "application/octet-stream")
            c.outputStream.use { it.write(message) }
            val status = c.responseCode
            c.disconnect()
            if (status !in 200..299) throw SessionChannelException.Unavailable("relay answered HTTP $status")
            sent += 1
        }
    }

    /** Shows a session QR, lets the desk scan it, answers over `channel`; the desk's result. */
    private suspend fun sessionAtTheDesk(wallet: Wallet, qr: SessionQr, channel: SessionChannel, share: Boolean): Map<String, Any?> {
        val pending = scan(qr.text())
        assertEquals(pending.toString(), "pending", pending["status"])
        val session = wallet.receiveSessionRequest(qr, channel, 30_000uL, "en")
        val req = session.request()
        assertEquals(LANDLORD, req.party.clientId)
        assertEquals("Eemland Housing Association", req.party.name)
        assertEquals(PresentationChannel.SESSION_QR, req.channel)
        assertEquals("rental", req.statedPurpose)
        assertTrue(req.satisfiable)
        if (share) {
            val disclosed = wallet.acceptSessionPresentation(session, session.defaultChoice(), channel)
            assertEquals(req.queries.map { it.queryId }.toSet(), disclosed.map { it.queryId }.toSet())
        } else {
            wallet.declineSessionPresentation(session, channel)
        }
        return deskResult(pending["state"] as String)
    }

    @Test
    fun theDeskVerifiesASessionQrOverTheRelay() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val qr = SessionQr(relay)
            assertTrue(qr.text().startsWith("KS1:"))
            val code = qr.code()
            assertEquals(qr.text(), code.payload)
            assertEquals(code.size.toInt() * code.size.toInt(), code.modules.size)
            val before = wallet.auditLog().size
            val result = sessionAtTheDesk(wallet, qr, qr.relayChannel(http), share = true)
            assertEquals(result.toString(), "verified", result["status"])
            // Exactly what the landlord's rental query asks, nothing else.
            val address = listOf("street", "house_number", "postal_code", "locality", "municipality").map { "/address/$it" }
            assertEquals(
                setOf("/given_name", "/family_name", "/monthly_gross_income_eur", "/registered_payment_arrears") + address,
                receivedPaths(result),
            )
            // Logged per credential, channel session-qr, for the landlord.
            val disclosed = wallet.auditLog().drop(before).map { it.event }.filterIsInstance<AuditEvent.Disclosed>()
            assertEquals(3, disclosed.size)
            assertTrue(disclosed.all { it.audience == LANDLORD && it.channel == PresentationChannel.SESSION_QR })
        }
    }

    @Test
    fun theDeskVerifiesASessionCarriedByAKotlinChannel() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val qr = SessionQr(relay)
            assertEquals(16, qr.sessionId().size)
            val channel = KotlinChannel(relay, qr.sessionId())
            val result = sessionAtTheDesk(wallet, qr, channel, share = true)
            assertEquals(result.toString(), "verified", result["status"])
            assertEquals("the request came through the app's channel", 1, channel.received)
            assertEquals("the answer went through the app's channel", 1, channel.sent)
        }
    }

    @Test
    fun aDeclinedSessionTellsTheDeskAndSharesNothing() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val qr = SessionQr(relay)
            val result = sessionAtTheDesk(wallet, qr, qr.relayChannel(http), share = false)
            assertEquals(result.toString(), "declined", result["status"])
            val events = wallet.auditLog().map { it.event }
            assertTrue(events.any { it is AuditEvent.PresentationDeclined })
            assertFalse(events.any { it is AuditEvent.Disclosed })
        }
    }

    @Test
    fun aChannelThatFailsIsTypedAndNothingIsLoggedAsShared() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val qr = SessionQr(relay)
            val broken = object : SessionChannel {
                override suspend fun receiveRequest(waitMs: ULong): ByteArray = throw SessionChannelException.Unavailable("bluetooth is off")
                override suspend fun sendResponse(message: ByteArray) = throw SessionChannelException.Unavailable("bluetooth is off")
            }
            val before = wallet.auditLog().size
            val e = assertThrows(KluisException.Network::class.java) {
                runBlocking { wallet.receiveSessionRequest(qr, broken, 1_000uL, "en") }
            }
            assertEquals(NetworkFailure.Unreachable, e.kind)
            assertTrue(e.detail, e.detail.contains("bluetooth is off"))
            val silent = object : SessionChannel {
                override suspend fun receiveRequest(waitMs: ULong): ByteArray = throw SessionChannelException.TimedOut()
                override suspend fun sendResponse(message: ByteArray) = Unit
            }
            val timedOut = assertThrows(KluisException.Network::class.java) {
                runBlocking { wallet.receiveSessionRequest(qr, silent, 1_000uL, "en") }
            }
            assertEquals(NetworkFailure.Timeout, timedOut.kind)
            // Garbage on the channel is a refused request (logged as refused), nothing sent.
            val garbage = object : SessionChannel {
                override suspend fun receiveRequest(waitMs: ULong): ByteArray = "not a JWE".toByteArray()
                override suspend fun sendResponse(message: ByteArray) = error("nothing may be sent")
            }
            val refused = assertThrows(KluisException.InvalidRequest::class.java) {
                runBlocking { wallet.receiveSessionRequest(qr, garbage, 1_000uL, "en") }
            }
            assertEquals(RequestRefusal.NOT_FOR_THIS_SESSION, refused.code)
            val events = wallet.auditLog().drop(before).map { it.event }
            assertTrue(events.toString(), events.all { it is AuditEvent.PresentationRefused })
            assertThrows(KluisException.InvalidInput::class.java) { SessionQr("http://relay.example/x") }
        }
    }

    @Test
    fun anOfflineQrMadeThroughTheBindingVerifiesAtTheDeskOnce() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val before = wallet.auditLog().size
            val qr = wallet.offlineQr(OfflineQuery.Rental, LANDLORD, "rental")
            assertTrue(qr.code.payload.startsWith("KL2:"))
            assertEquals(LANDLORD, qr.audience)
            assertEquals(120L, qr.validUntil - qr.issuedAt)
            assertEquals(3, qr.items.size)
            assertEquals(qr.code.size.toInt() * qr.code.size.toInt(), qr.code.modules.size)
            assertEquals(qr.code, qrCode(qr.code.payload))
            val png = qrPng(qr.code.payload, 4u)
            assertArrayEquals(byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte()), png.copyOf(4))
            // Logged per credential, channel offline-qr, with the purpose.
            val disclosed = wallet.auditLog().drop(before).map { it.event }.filterIsInstance<AuditEvent.Disclosed>()
            assertEquals(qr.items.map { it.credentialId }, disclosed.map { it.credentialId })
            assertTrue(disclosed.all { it.channel == PresentationChannel.OFFLINE_QR && it.purpose == "rental" && it.audience == LANDLORD })

            val result = scan(qr.code.payload)
            assertEquals(result.toString(), "verified", result["status"])
            assertTrue(receivedPaths(result).toString(), receivedPaths(result).contains("/monthly_gross_income_eur"))
            // Shown again (photographed): the desk's replay cache refuses it.
            val again = scan(qr.code.payload)
            assertEquals(again.toString(), "rejected", again["status"])
            // Made for another party: the landlord refuses it.
            val forBank = wallet.offlineQr(OfflineQuery.Rental, "bank-utrecht", null)
            assertNotEquals("verified", scan(forBank.code.payload)["status"])
        }
    }

    @Test
    fun badOfflineInputIsTyped() = runBlocking<Unit> {
        val (wallet, _) = TestSupport.newWallet()
        wallet.use {
            assertThrows(KluisException.InvalidInput::class.java) {
                runBlocking { wallet.offlineQr(OfflineQuery.Dcql("{not json"), LANDLORD, null) }
            }
            assertThrows(KluisException.InvalidInput::class.java) {
                runBlocking { wallet.offlineQr(OfflineQuery.Dcql("""{"credentials": 5}"""), LANDLORD, null) }
            }
            // An empty wallet cannot answer the rental query.
            assertThrows(KluisException.NotFound::class.java) {
                runBlocking { wallet.offlineQr(OfflineQuery.Rental, LANDLORD, null) }
            }
            assertThrows(KluisException.InvalidInput::class.java) { qrPng("A".repeat(5000), 4u) }
        }
    }
}
