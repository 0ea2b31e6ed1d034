package nl.kluis

import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.util.Base64

/**
 * The Digital Credentials API through the binding (issue 16 item 6, OpenID4VP 1.0 Appendix A):
 * what Android's Credential Manager hands a wallet app — the request's protocol, its `data` as
 * JSON and the calling origin — and the response JSON the app hands back. The landlord's page
 * (the fixture's `/api/dc_api/new`, kluis-verifier's `openid4vp::dc_api`) asks signed; its
 * server verifies the answer the page got back (`/api/dc_api/result`). An unsigned request is
 * written here as a page would pass it to `navigator.credentials.get`.
 */
class DcApiTest : VerifierNetworkTest() {
    companion object {
        const val PAGE = "https://woningen.eemland.example"
        const val SHOP = "https://webwinkel.example"
        const val NAMES = """{"credentials": [{"id": "person", "format": "dc+sd-jwt",
            "meta": {"vct_values": ["urn:nl:gemeente:brp-address:1"]},
            "claims": [{"path": ["given_name"]}, {"path": ["family_name"]}]}]}"""
    }

    @After
    fun landlordBehavesAgain() {
        LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": null}""")
    }

    /** The landlord's page asks for the citizen's names: (request id, protocol, data JSON). */
    private fun pageAsks(protocol: String = "openid4vp-v1-signed", mode: String = "dc_api.jwt"): Triple<String, String, String> {
        assertEquals(200, LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": $NAMES}""").first)
        val (status, body) = LoopbackHttp.postJson(
            "$landlord/api/dc_api/new", """{"protocol": "$protocol", "origin": "$PAGE", "response_mode": "$mode"}""",
        )
        assertEquals(body, 200, status)
        val r = MiniJson.obj(body)
        return Triple(r["id"] as String, r["protocol"] as String, r["data_json"] as String)
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

    private fun kbPayload(presentation: String): Map<String, Any?> {
        val kb = presentation.substringAfterLast('~')
        return MiniJson.obj(String(Base64.getUrlDecoder().decode(kb.split('.')[1])))
    }

    @Test
    fun aSignedRequestIsAnsweredEncryptedAndThePageVerifiesIt() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val (id, protocol, data) = pageAsks()
            assertEquals("openid4vp-v1-signed", protocol)
            val session = wallet.startDcApiPresentation(protocol, data, PAGE, "en")
            val req = session.request()
            assertEquals(LANDLORD, req.party.clientId)
            assertTrue(req.party.registered)
            assertEquals(PAGE, req.origin)
            assertEquals(PresentationChannel.DC_API, req.channel)

            val answer = wallet.acceptDcApiPresentation(session, session.defaultChoice())
            val handed = MiniJson.obj(answer.responseJson)
            assertEquals(protocol, handed["protocol"])
            val out = handed["data"] as Map<*, *>
            assertEquals(answer.responseJson, setOf("response"), out.keys) // only the JWE leaves
            assertEquals(1, answer.disclosed.size)

            val (status, body) = LoopbackHttp.postJson("$landlord/api/dc_api/result", """{"id": "$id", "origin": "$PAGE", "response": ${answer.responseJson}}""")
            assertEquals(body, 200, status)
            assertEquals(body, "verified", MiniJson.obj(body)["status"])
            // The same answer at another page of someone else: refused by the party.
            val (other, _) = LoopbackHttp.postJson("$landlord/api/dc_api/result", """{"id": "$id", "origin": "https://evil.example", "response": ${answer.responseJson}}""")
            assertEquals(400, other)

            val disclosed = wallet.auditLog().mapNotNull { it.event as? AuditEvent.Disclosed }
            assertTrue(disclosed.toString(), disclosed.size == 1 && disclosed.all { it.audience == LANDLORD && it.channel == PresentationChannel.DC_API })

            // Handed over again (a replay): refused, logged, nothing more disclosed.
            assertThrows(KluisException.InvalidRequest::class.java) { runBlocking { wallet.startDcApiPresentation(protocol, data, PAGE, "en") } }
            val last = wallet.auditLog().last().event
            assertTrue(last.toString(), last is AuditEvent.PresentationRefused && last.reason == "replayed_nonce")
            assertEquals(1, wallet.auditLog().count { it.event is AuditEvent.Disclosed })
        }
    }

    @Test
    fun aRequestFromAnOriginItDoesNotNameIsRefusedWithNothingHandedBack() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val (_, protocol, data) = pageAsks()
            val e = assertThrows(KluisException.InvalidRequest::class.java) {
                runBlocking { wallet.startDcApiPresentation(protocol, data, "https://evil.example", "en") }
            }
            assertTrue(e.toString(), e.toString().contains("expected_origins"))
            val last = wallet.auditLog().last().event
            assertTrue(last.toString(), last is AuditEvent.PresentationRefused && last.reason == "foreign_origin" && last.channel == PresentationChannel.DC_API)
            // Another protocol than the one the data is for, and one this wallet does not speak.
            assertThrows(KluisException.InvalidRequest::class.java) { runBlocking { wallet.startDcApiPresentation("openid4vp-v1-unsigned", data, PAGE, "en") } }
            assertThrows(KluisException.InvalidRequest::class.java) { runBlocking { wallet.startDcApiPresentation("org-iso-mdoc", data, PAGE, "en") } }
            assertTrue(wallet.auditLog().none { it.event is AuditEvent.Disclosed })
        }
    }

    @Test
    fun anUnsignedRequestAsABrowserPassesItShowsTheOriginAsTheParty() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            // navigator.credentials.get({digital: {requests: [{protocol: "openid4vp-v1-unsigned", data}]}});
            // a client_id in it is ignored (OpenID4VP 1.0 A.2).
            val data = """{"response_type": "vp_token", "response_mode": "dc_api", "nonce": "n-0S6_WzA2Mj",
                "client_id": "$LANDLORD", "dcql_query": $NAMES}"""
            val session = wallet.startDcApiPresentation("openid4vp-v1-unsigned", data, SHOP, "en")
            val req = session.request()
            assertEquals("origin:$SHOP", req.party.clientId)
            assertTrue(!req.party.registered && req.party.name == null)
            assertTrue(req.flags.contains(PresentationFlag.UNREGISTERED))
            // Nothing is within a registration: nothing chosen by default, nothing leaves unasked.
            assertTrue(session.defaultChoice().queries.isEmpty())
            val q = req.queries.single()
            val everything = PresentationChoice(
                mapOf(q.queryId to QueryChoice(listOf(q.candidates.first().credentialId), q.claims.map { it.path })), false,
            )
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { wallet.acceptDcApiPresentation(session, everything) } }
            val answer = wallet.acceptDcApiPresentation(session, everything.copy(allowOutsideRegistration = true))
            val out = MiniJson.obj(answer.responseJson)["data"] as Map<*, *>
            val presentation = ((out["vp_token"] as Map<*, *>)["person"] as List<*>).single() as String
            val kb = kbPayload(presentation)
            assertEquals("origin:$SHOP", kb["aud"])
            assertEquals("n-0S6_WzA2Mj", kb["nonce"])
            assertNull(out["state"])
            val disclosed = wallet.auditLog().mapNotNull { it.event as? AuditEvent.Disclosed }
            assertTrue(disclosed.toString(), disclosed.single().audience == "origin:$SHOP")
        }
    }
}
