package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * Delegation through the binding (docs/DELEGATION.md), against the real simulated world of
 * `kluis-fixtures verifiers --json` (holders, scheme, landlord, mandate registry on loopback):
 * the citizen collects, gives a helper's wallet (its own directory and key) a mandate, the helper
 * answers the landlord's OpenID4VP request on the citizen's behalf, the citizen revokes, and the
 * helper's next answer is refused with its package dropped. A package opened by any other wallet
 * fails with a typed error.
 */
class DelegationTest : VerifierNetworkTest() {
    companion object {
        private const val INCOME = "urn:nl:uwv:income-statement:1"
        private const val CLAIM = "/monthly_gross_income_eur"
    }

    private val registry get() = announced["mandate_registry"] as String

    /** A fresh request from the landlord asking only the monthly income: (result URL, link). */
    private fun incomeRequest(): Pair<String, String> {
        val dcql = """{"credentials": [{"id": "income", "format": "dc+sd-jwt",
            "meta": {"vct_values": ["$INCOME"]}, "claims": [{"path": ["monthly_gross_income_eur"]}]}]}"""
        assertEquals(200, LoopbackHttp.postJson("$landlord/admin/dcql", """{"dcql": $dcql}""").first)
        val (status, body) = LoopbackHttp.get(announced["new_session_url"] as String)
        assertEquals(body, 200, status)
        val s = MiniJson.obj(body)
        return "$landlord/api/result/${s["state"]}" to s["request_uri"] as String
    }

    /** A new wallet (own directory and key) trusting the scheme. */
    private suspend fun walletWithScheme(): Wallet {
        val (wallet, _) = newWallet()
        val line = announced
        wallet.setScheme(line["scheme"] as String, File(line["scheme_key_file"] as String).readText(), http)
        return wallet
    }

    /** The citizen's wallet holding Daan's UWV income statement, collected through the binding. */
    private suspend fun citizenWallet(): Wallet {
        val wallet = walletWithScheme()
        for (i in 0 until 6) { // the holders listen on N..N+5
            val (status, body) = LoopbackHttp.postJson("http://127.0.0.1:${fixtures.portBase + i}/admin/offer", """{"citizen": "daan"}""")
            if (status != 200) continue
            val offer = MiniJson.obj(body)
            if (offer["holder"] != "uwv") continue
            wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
            return wallet
        }
        error("no UWV holder on ports N..N+5")
    }

    private fun request(helperJwk: String) = DelegateRequest(
        helperJwk = helperJwk,
        types = listOf(INCOME),
        claims = listOf(CLAIM),
        actions = listOf(MandateAction.PRESENT),
        notBefore = null,
        until = System.currentTimeMillis() / 1000 + 30 * 86_400,
        parties = listOf(LANDLORD),
        purposes = listOf("rental"),
        label = "Daan's helper",
        registry = registry,
    )

    @Test
    fun helperPresentsOnBehalfUntilTheCitizenRevokes() = runBlocking<Unit> {
        citizenWallet().use { citizen ->
            walletWithScheme().use { helper ->
                // The citizen delegates to the helper's public key.
                val given = citizen.delegate(request(helper.holderPublicJwk()), http)
                assertEquals(MandateRole.ISSUED, given.mandate.role)
                assertEquals(MandateState.ACTIVE, given.mandate.state)
                assertEquals(listOf(INCOME), given.mandate.types)
                assertEquals(listOf(MandateAction.PRESENT), given.mandate.actions)
                assertTrue(given.packageJwe.isNotBlank())
                // The package is encrypted: the claim value is not in it.
                val income = citizen.credentials("en").single { it.vct == INCOME }
                val value = citizen.credential(income.id, "en").claims.single { it.path == CLAIM }.valueJson
                assertTrue(!given.packageJwe.contains(value))

                // The helper accepts the package (as bytes or text, e.g. from a QR code or file).
                val received = helper.acceptMandate(String(given.packageJwe.toByteArray()), http)
                assertEquals(given.mandate.id, received.id)
                assertEquals(MandateRole.RECEIVED, received.role)
                assertEquals("Daan's helper", received.label)
                assertEquals(listOf(INCOME), received.credentials.map { it.vct })
                // Kept apart from the helper's own credentials.
                assertTrue(helper.credentials("en").isEmpty())

                // The helper answers the landlord's request on the citizen's behalf.
                val (resultUrl, link) = incomeRequest()
                val session = helper.startPresentation(link, "en", http)
                assertEquals("rental", session.request().statedPurpose)
                val outcome = helper.acceptPresentationOnBehalf(received.id, session, http)
                assertEquals(LANDLORD, outcome.clientId)
                assertEquals(200.toUShort(), outcome.ack.status)
                assertEquals(listOf(CLAIM), outcome.disclosed.single().claims)

                // The landlord verified the income, presented on behalf under this mandate.
                val r = result(resultUrl)
                assertEquals(r["reason"]?.toString(), "verified", r["status"])
                @Suppress("UNCHECKED_CAST")
                val cred = ((r["claims"] as Map<String, Any?>)["income"] as List<Map<String, Any?>>).single()
                assertEquals(setOf("monthly_gross_income_eur"), (cred["claims"] as Map<*, *>).keys)
                val onBehalf = cred["on_behalf"] as Map<*, *>
                assertEquals(received.id, onBehalf["mandate_id"])
                assertEquals(given.mandate.counterpart, onBehalf["helper_thumbprint"])
                val used = helper.auditLog().map { it.event }.filterIsInstance<AuditEvent.MandateUsed>().single()
                assertEquals(AuditEvent.MandateUsed(received.id, LANDLORD, INCOME, listOf(CLAIM), "rental"), used)

                // The citizen sees the use, then revokes.
                citizen.mandates(http)
                val citizenLog = citizen.auditLog().map { it.event }
                assertTrue(citizenLog.toString(), citizenLog.any { it is AuditEvent.MandateUsed && it.audience == LANDLORD })
                val revoked = citizen.revokeMandate(given.mandate.id, http)
                assertEquals(MandateState.REVOKED, revoked.state)
                assertTrue(AuditEvent.MandateRevoked(given.mandate.id) in citizen.auditLog().map { it.event })

                // The helper's next answer is refused before anything is sent, and the package dropped.
                val (nextResult, nextLink) = incomeRequest()
                val next = helper.startPresentation(nextLink, "en", http)
                val e = assertThrows(KluisException.InvalidCredential::class.java) {
                    runBlocking { helper.acceptPresentationOnBehalf(received.id, next, http) }
                }
                assertTrue(e.reason, e.reason.contains("revoked"))
                assertEquals("pending", result(nextResult)["status"])
                val dropped = helper.auditLog().map { it.event }.filterIsInstance<AuditEvent.MandateDropped>().single()
                assertEquals(AuditEvent.MandateDropped(received.id, MandateState.REVOKED), dropped)
                assertTrue(helper.mandates(http).none { it.id == received.id })
                assertThrows(KluisException.NotFound::class.java) {
                    runBlocking { helper.presentOnBehalf(received.id, INCOME, listOf(CLAIM), "n-1", LANDLORD, "rental", http) }
                }
            }
        }
    }

    @Test
    fun aPackageForAnotherWalletIsRefusedWithATypedError() = runBlocking<Unit> {
        citizenWallet().use { citizen ->
            walletWithScheme().use { helper ->
                walletWithScheme().use { stranger ->
                    assertNotEquals(helper.holderPublicJwk(), stranger.holderPublicJwk())
                    val given = citizen.delegate(request(helper.holderPublicJwk()), http)
                    val e = assertThrows(KluisException.InvalidCredential::class.java) {
                        runBlocking { stranger.acceptMandate(given.packageJwe, http) }
                    }
                    assertTrue(e.reason, e.reason.startsWith("delegation:"))
                    assertTrue(stranger.mandates(http).isEmpty())
                    // Garbage is refused the same way; a bad helper key is the citizen's input.
                    assertThrows(KluisException.InvalidCredential::class.java) {
                        runBlocking { stranger.acceptMandate("not.a.package", http) }
                    }
                    assertThrows(KluisException.InvalidInput::class.java) {
                        runBlocking { citizen.delegate(request("{\"kty\": \"EC\"}"), http) }
                    }
                }
            }
        }
    }
}
