package nl.kluis

import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.security.MessageDigest
import java.util.Base64

/**
 * Transaction data through the binding (issue 16 item 7, OpenID4VP 1.0 `transaction_data`):
 * the fixture landlord (the kluis-verifier service under `kluis-fixtures verifiers`) asks the
 * citizen to confirm a mortgage offer with the answer (`POST /admin/transaction_data`, the entry
 * built here). The consent screen's `PresentationRequest.transactions` shows the offer; accepting
 * binds it, and the service verifies the binding against the request it keeps. An entry of a
 * type the wallet does not know is refused with nothing sent.
 */
class TransactionDataTest : VerifierNetworkTest() {
    companion object {
        private const val MORTGAGE_OFFER = "urn:kluis:transaction:mortgage-offer:1"

        private val b64 = Base64.getUrlEncoder().withoutPadding()
        val documentSha256: String = b64.encodeToString(MessageDigest.getInstance("SHA-256").digest("offer HYP-KT-1".toByteArray()))
    }

    @After
    fun landlordBehavesAgain() {
        LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": null}""")
        LoopbackHttp.postJson("$landlord/admin/transaction_data", """{"transaction_data": null}""")
    }

    /** One `transaction_data` entry as a party sends it (base64url JSON). */
    private fun entry(type: String = MORTGAGE_OFFER) = b64.encodeToString(
        """{"type": "$type", "credential_ids": ["person"], "offer_id": "HYP-KT-1",
           "document_label": "Hypotheekofferte", "document_sha256": "$documentSha256",
           "amount_eur_cents": 35000000}""".toByteArray()
    )

    /** The landlord asks only the family name, and the citizen to confirm [entries]. */
    private fun newRequest(entries: List<String>): Pair<String, String> {
        val dcql = """{"credentials": [{"id": "person", "format": "dc+sd-jwt",
            "meta": {"vct_values": ["urn:nl:gemeente:brp-address:1"]}, "claims": [{"path": ["family_name"]}]}]}"""
        assertEquals(200, LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": $dcql}""").first)
        val td = entries.joinToString(",") { "\"$it\"" }
        assertEquals(200, LoopbackHttp.postJson("$landlord/admin/transaction_data", """{"transaction_data": [$td]}""").first)
        val (status, body) = LoopbackHttp.get(announced["new_session_url"] as String)
        assertEquals(body, 200, status)
        val s = MiniJson.obj(body)
        return "$landlord/api/result/${s["state"]}" to s["request_uri"] as String
    }

    /** A wallet holding Daan's address from the municipality, status-checked. */
    private suspend fun collectedWallet(): Wallet {
        val (wallet, _) = TestSupport.newWallet()
        wallet.setScheme(announced["scheme"] as String, File(announced["scheme_key_file"] as String).readText(), http)
        for (i in 0 until 6) { // the holders listen on N..N+5
            val (status, body) = LoopbackHttp.postJson("http://127.0.0.1:${fixtures.portBase + i}/admin/offer", """{"citizen": "daan"}""")
            if (status != 200) continue
            val offer = MiniJson.obj(body)
            if (offer["holder"] != "gemeente-utrecht") continue
            wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
        }
        assertTrue(wallet.checkStatus(http).all { it.status == CredentialState.VALID })
        return wallet
    }

    @Test
    fun theOfferIsOnTheConsentScreenAndThePartyVerifiesItsConfirmation() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val (resultUrl, link) = newRequest(listOf(entry()))
            val session = wallet.startPresentation(link, "en", http)
            val t = session.request().transactions.single()
            assertEquals(MORTGAGE_OFFER, t.kind)
            assertEquals(listOf("person"), t.confirmedWith)
            assertEquals(Transaction.MortgageOffer("HYP-KT-1", "Hypotheekofferte", documentSha256, 35_000_000uL), t.transaction)

            val outcome = wallet.acceptPresentation(session, session.defaultChoice(), http)
            assertEquals(200.toUShort(), outcome.ack.status)
            val r = result(resultUrl)
            assertEquals(r["reason"]?.toString(), "verified", r["status"])
        }
    }

    @Test
    fun anUnknownTypeIsRefusedWithNothingSent() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val (resultUrl, link) = newRequest(listOf(entry(), entry("urn:example:payment:1")))
            val e = assertThrows(KluisException.InvalidRequest::class.java) { runBlocking { wallet.startPresentation(link, "en", http) } }
            assertEquals(RequestRefusal.INVALID_TRANSACTION_DATA, e.code)
            assertTrue(e.detail, e.detail.contains("does not know"))
            assertEquals("pending", result(resultUrl)["status"])
            val last = wallet.auditLog().last().event
            assertTrue(last.toString(), last is AuditEvent.PresentationRefused && last.reason == "invalid_transaction_data")
            assertTrue(wallet.auditLog().none { it.event is AuditEvent.Disclosed })
        }
    }
}
