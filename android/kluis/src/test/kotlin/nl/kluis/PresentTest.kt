package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.newWallet
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * A presentation session through the binding (OpenID4VP 1.0 + DCQL), against the real simulated
 * parties: `kluis-fixtures verifiers --json` runs the six holders (ports N..N+5), the scheme and
 * the requesting parties on loopback and announces each party (`party`, `request_uri`,
 * `result_url`, `new_session_url`, `scheme`, `scheme_key_file`). The wallet collects from the
 * holders, then answers the landlord's rental request; the landlord's result endpoint shows what
 * it verified.
 */
class PresentTest : VerifierNetworkTest() {
    @After
    fun landlordBehavesAgain() {
        LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": null}""")
        LoopbackHttp.postJson("$landlord/admin/fault", """{"fault": "none"}""")
    }

    /** What the landlord verified for query [query]: the disclosed claims object. */
    @Suppress("UNCHECKED_CAST")
    private fun verifiedClaims(r: Map<String, Any?>, query: String): Map<String, Any?> {
        val perQuery = r["claims"] as Map<String, Any?>
        val creds = perQuery[query] as List<Map<String, Any?>>
        return creds.single()["claims"] as Map<String, Any?>
    }

    private suspend fun walletWithScheme(): Wallet {
        val (wallet, _) = newWallet()
        val dir = File(System.getProperty("kluis.typeMetadataDir") ?: error("kluis.typeMetadataDir is not set"))
        wallet.setTypeMetadata(dir.listFiles { f -> f.name.endsWith(".json") }!!.sorted().map { it.readText() })
        val line = announced
        wallet.setScheme(line["scheme"] as String, File(line["scheme_key_file"] as String).readText(), http)
        return wallet
    }

    /** A wallet holding Daan's address (municipality), income (UWV) and care arrears (CAK), status-checked. */
    private suspend fun collectedWallet(): Wallet {
        val wallet = walletWithScheme()
        for (holder in listOf("gemeente-utrecht", "uwv", "cak")) {
            val offer = freshOffer(holder)
            wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
        }
        assertTrue(wallet.checkStatus(http).all { it.status == CredentialState.VALID })
        return wallet
    }

    @Test
    fun aFullSessionDisclosesExactlyTheChosenClaimsAndLogsThem() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            // The landlord accepts the name without the given names (a second claim set), so the
            // given names become optional for the citizen.
            val dcql = """{"credentials": [
                {"id": "person", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:nl:gemeente:brp-address:1"]},
                 "claims": [{"id": "given", "path": ["given_name"]}, {"id": "family", "path": ["family_name"]},
                            {"id": "address", "path": ["address"]}],
                 "claim_sets": [["given", "family", "address"], ["family", "address"]]},
                {"id": "income", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:nl:uwv:income-statement:1"]},
                 "claims": [{"path": ["monthly_gross_income_eur"]}]},
                {"id": "arrears", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:nl:cak:care-arrears:1"]},
                 "claims": [{"path": ["registered_payment_arrears"], "values": [false]}]}]}"""
            assertEquals(200, LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": $dcql}""").first)
            val (resultUrl, link) = newRequest()

            val session = wallet.startPresentation(link, "en", http)
            val req = session.request()
            assertEquals(LANDLORD, req.party.clientId)
            assertEquals("Eemland Housing Association", req.party.name)
            assertTrue(req.party.registered)
            assertEquals("Rental application", req.purpose?.name)
            assertEquals("rental", req.statedPurpose)
            assertEquals(30u, req.retentionDays)
            assertEquals(PresentationChannel.REMOTE, req.channel)
            assertTrue(req.satisfiable)
            assertTrue(req.flags.toString(), req.flags.isEmpty())
            assertEquals(listOf("person", "income", "arrears"), req.queries.map { it.queryId })
            assertTrue(req.queries.all { it.required && it.candidates.size == 1 })
            assertTrue(req.queries.all { q -> q.candidates.all { it.status == CandidateStatus.VALID } })
            val person = req.queries.first()
            assertEquals(listOf("/given_name", "/family_name", "/address"), person.claims.map { it.path })
            assertEquals(listOf(true, false, false), person.claims.map { it.optional })
            assertEquals("Given names", person.claims.first().label)
            assertTrue(person.claims.all { it.withinRegistration })

            // Data minimisation by default: what was asked, from the one candidate each.
            val default = session.defaultChoice()
            assertEquals(setOf("person", "income", "arrears"), default.queries.keys)
            val personChoice = default.queries.getValue("person")
            assertEquals(listOf("/given_name", "/family_name", "/address"), personChoice.claims)

            // Adding a claim that was not asked is refused, and nothing is sent.
            val overAsk = default.copy(queries = default.queries + ("person" to personChoice.copy(claims = personChoice.claims + "/bsn")))
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { wallet.acceptPresentation(session, overAsk, http) } }
            assertEquals("pending", result(resultUrl)["status"])

            // The citizen leaves out the optional given names and accepts.
            val chosen = default.copy(queries = default.queries + ("person" to personChoice.copy(claims = listOf("/family_name", "/address"))))
            val outcome = wallet.acceptPresentation(session, chosen, http)
            assertEquals(LANDLORD, outcome.clientId)
            assertEquals(200.toUShort(), outcome.ack.status)
            // What is reported (and logged) is counted from what left: the leaves under the
            // chosen claims, exactly what the landlord verified.
            val shared = outcome.disclosed.single { it.queryId == "person" }.claims
            assertTrue(shared.toString(), shared.all { it == "/family_name" || it.startsWith("/address/") })

            // The landlord verified exactly the chosen claims.
            val r = result(resultUrl)
            assertEquals(r["reason"]?.toString(), "verified", r["status"])
            val personClaims = verifiedClaims(r, "person")
            assertEquals(setOf("family_name", "address"), personClaims.keys)
            assertEquals(leafPaths(personClaims), shared.toSet())
            assertEquals("Utrecht", (personClaims["address"] as Map<*, *>)["locality"])
            assertEquals(setOf("monthly_gross_income_eur"), verifiedClaims(r, "income").keys)
            assertEquals(mapOf("registered_payment_arrears" to false), verifiedClaims(r, "arrears"))

            // Every disclosure is in the audit log, with party, purpose, retention and channel.
            val disclosed = wallet.auditLog().map { it.event }.filterIsInstance<AuditEvent.Disclosed>()
            assertEquals(3, disclosed.size)
            assertTrue(disclosed.all { it.audience == LANDLORD && it.purpose == "rental" && it.retentionDays == 30u && it.channel == PresentationChannel.REMOTE })
            val personId = req.queries.first().candidates.single().credentialId
            assertEquals(shared, disclosed.single { it.credentialId == personId }.claims)
            assertTrue(disclosed.all { it.delivery == Delivery.RECEIVED })

            // The same request again: the landlord's service no longer hands out an answered
            // request, and nothing is sent. (A copy with the same nonce served elsewhere the
            // wallet refuses itself: RequestFault::ReplayNonce in tests/tests/present_remote.rs.)
            val again = assertThrows(KluisException.Network::class.java) { runBlocking { wallet.startPresentation(link, "en", http) } }
            assertEquals(NetworkFailure.HttpStatus(404.toUShort()), again.kind)
            assertEquals(3, wallet.auditLog().map { it.event }.filterIsInstance<AuditEvent.Disclosed>().size)
        }
    }

    @Test
    fun declineTellsThePartyAndIsLogged() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            // The request the landlord announced at start-up, as a QR code on its page.
            val resultUrl = announced["result_url"] as String
            val link = announced["request_uri"] as String
            val session = wallet.startPresentation(link, "nl", http)
            val req = session.request()
            assertEquals("Woningcorporatie Eemland", req.party.name)
            // An empty wallet: nothing answers, which the app shows before the citizen declines.
            assertFalse(req.satisfiable)
            assertTrue(PresentationFlag.NOTHING_MATCHES in req.flags)
            assertTrue(req.queries.all { it.candidates.isEmpty() })
            assertTrue(session.defaultChoice().queries.isEmpty())

            val ack = wallet.declinePresentation(session, http)
            assertEquals(200.toUShort(), ack.status)
            assertEquals("declined", result(resultUrl)["status"])
            val log = wallet.auditLog().map { it.event }
            assertEquals(AuditEvent.PresentationDeclined(LANDLORD, "rental", PresentationChannel.REMOTE, DeclineReason.CITIZEN), log.last())
            assertTrue(log.none { it is AuditEvent.Disclosed })
        }
    }

    @Test
    fun aReplayedRequestIsRefusedWithTheReplayedNonceCode() = runBlocking<Unit> {
        collectedWallet().use { wallet ->
            val dcql = """{"credentials": [{"id": "person", "format": "dc+sd-jwt",
                "meta": {"vct_values": ["urn:nl:gemeente:brp-address:1"]}, "claims": [{"path": ["family_name"]}]}]}"""
            assertEquals(200, LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": $dcql}""").first)
            val (firstResult, first) = newRequest()
            val session = wallet.startPresentation(first, "en", http)
            wallet.acceptPresentation(session, session.defaultChoice(), http)
            assertEquals("verified", result(firstResult)["status"])
            // A fresh request that carries the answered request's nonce again (a replay).
            assertEquals(200, LoopbackHttp.postJson("$landlord/admin/fault", """{"fault": "replay_nonce"}""").first)
            val (resultUrl, link) = newRequest()
            val e = assertThrows(KluisException.InvalidRequest::class.java) { runBlocking { wallet.startPresentation(link, "en", http) } }
            assertEquals(RequestRefusal.REPLAYED_NONCE, e.code)
            assertEquals("pending", result(resultUrl)["status"])
            assertEquals(AuditEvent.PresentationRefused(LANDLORD, "replayed_nonce", PresentationChannel.REMOTE), wallet.auditLog().last().event)
        }
    }

    @Test
    fun aBadRequestIsRefusedWithNothingSent() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            assertEquals(200, LoopbackHttp.postJson("$landlord/admin/fault", """{"fault": "bad_signature"}""").first)
            val (resultUrl, link) = newRequest()
            val e = assertThrows(KluisException.InvalidRequest::class.java) { runBlocking { wallet.startPresentation(link, "en", http) } }
            assertEquals(RequestRefusal.BAD_SIGNATURE, e.code)
            assertEquals("pending", result(resultUrl)["status"])
            // The audit entry records the same code the app was given.
            assertEquals(AuditEvent.PresentationRefused(LANDLORD, "bad_signature", PresentationChannel.REMOTE), wallet.auditLog().last().event)
            assertThrows(KluisException.InvalidRequest::class.java) {
                runBlocking { wallet.startPresentation("openid4vp://?client_id=redirect_uri:https://evil.example&request_uri=https://evil.example/r", "en", http) }
            }
        }
    }

    /** The leaf paths of a verified claims object (`/address/locality`, ...). */
    private fun leafPaths(v: Any?, at: String = ""): Set<String> = when {
        v is Map<*, *> && v.isNotEmpty() -> v.entries.flatMap { (k, c) -> leafPaths(c, "$at/$k") }.toSet()
        v is List<*> && v.isNotEmpty() -> v.withIndex().flatMap { (i, c) -> leafPaths(c, "$at/$i") }.toSet()
        else -> setOf(at)
    }
}
