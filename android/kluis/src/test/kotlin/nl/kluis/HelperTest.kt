package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The helper through the binding (issue 13 item 4, docs/DELEGATION.md §8), against the real
 * simulated world of `kluis-fixtures verifiers --json`: a debt counsellor collects for the
 * citizen at the six holders under a mandate (token exchange at each), sees the client's overview
 * with amounts in cents and the age of each source, shows the debt-help desk's request on its
 * consent screen exactly as it then leaves, and, once the citizen revokes, is refused with a typed
 * error and keeps nothing new.
 */
class HelperTest : VerifierNetworkTest() {
    private companion object {
        const val DESK = "schuldhulp-utrecht"
        const val INCOME = "urn:nl:uwv:income-statement:1"
        val TYPES = listOf(
            "urn:nl:gemeente:brp-address:1",
            "urn:nl:duo:student-debt:1",
            "urn:nl:cak:care-arrears:1",
            "urn:nl:gemeente:municipal-debts:1",
            "urn:nl:belastingdienst:income-assessment:1",
            INCOME,
        )

        /** Daan's debts at DUO, CAK, the municipality and the Belastingdienst, in cents. */
        const val DEBT_TOTAL_CENTS = 2_093_370L
    }

    /** Collecting under a mandate has each holder check the mandate's list: slower than a collect. */
    private val http = VerifierNetworkTest.http.copy(timeoutMs = 20_000uL)
    private val settings = VerifierNetworkTest.settings.copy(http = http, lang = "en")

    private val desk get() = fixtures.line { it["party"] == DESK }

    private suspend fun walletWithScheme(): Wallet {
        val (wallet, _) = newWallet()
        wallet.setScheme(desk["scheme"] as String, File(desk["scheme_key_file"] as String).readText(), http)
        return wallet
    }

    /** The citizen's wallet with everything the six holders issue to Daan (RDW's too, out of the mandate). */
    private suspend fun citizenWallet(): Wallet {
        val wallet = walletWithScheme()
        for (i in 0 until 6) { // the holders listen on N..N+5
            val (status, body) = LoopbackHttp.postJson("http://127.0.0.1:${fixtures.portBase + i}/admin/offer", """{"citizen": "daan"}""")
            assertEquals(body, 200, status)
            val offer = MiniJson.obj(body)
            wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
        }
        val held = wallet.credentials("en").map { it.vct }
        assertTrue(held.toString(), held.containsAll(TYPES))
        return wallet
    }

    /** The counsellor's mandate: present to the desk for debt counselling, view, collect. */
    private suspend fun mandate(citizen: Wallet, helper: Wallet): MandateSummary {
        val given = citizen.delegate(
            DelegateRequest(
                helperJwk = helper.holderPublicJwk(),
                types = TYPES,
                claims = null,
                actions = listOf(MandateAction.PRESENT, MandateAction.VIEW, MandateAction.REFRESH),
                notBefore = null,
                until = System.currentTimeMillis() / 1000 + 30 * 86_400,
                parties = listOf(DESK),
                purposes = listOf("debt-counselling"),
                label = "Daan (schuldhulp)",
                registry = desk["mandate_registry"] as String,
            ),
            http,
        )
        return helper.acceptMandate(given.packageJwe, http)
    }

    private suspend fun collectedEvents(w: Wallet) = w.auditLog().map { it.event }.filterIsInstance<AuditEvent.MandateCollected>()

    @Test
    fun theCounsellorCollectsForTheCitizenAndSeesTheOverviewWithCentsAndAges() = runBlocking<Unit> {
        citizenWallet().use { citizen ->
            walletWithScheme().use { helper ->
                val m = mandate(citizen, helper)
                val uwv = m.credentials.single { it.vct == INCOME }.issuer

                // At one holder: the income statement, bound to the helper's key, kept with the mandate.
                val one = helper.collectOnBehalf(m.id, uwv, emptyList(), settings)
                assertEquals(m.id, one.mandateId)
                assertEquals(uwv, one.issuer)
                assertEquals(listOf(INCOME), one.collected.map { it.vct })
                assertTrue(helper.credentials("en").isEmpty())
                assertEquals(listOf(AuditEvent.MandateCollected(m.id, uwv, INCOME)), collectedEvents(helper))

                // At every holder of the mandate's credentials.
                val all = helper.refreshOnBehalf(m.id, settings)
                assertTrue(all.failures.toString(), all.failures.isEmpty())
                assertEquals(TYPES.sorted(), all.collected.map { it.vct }.sorted())
                assertEquals(m.credentials.map { it.issuer }.toSet(), all.collected.map { it.issuer }.toSet())
                // Kept with the mandate beside the packaged copies, still none as the helper's own.
                val listed = helper.mandates(http).single()
                assertTrue(listed.credentials.containsAll(all.collected))
                assertTrue(helper.credentials("en").isEmpty())

                // The counsellor's screen: the client's figures in cents, each source collected and young.
                val before = System.currentTimeMillis() / 1000
                val h = helper.helperOverview(m.id, false, settings)
                assertTrue(h.leftOut.isEmpty())
                val c = h.clients.single()
                assertEquals(m.id, c.mandateId)
                assertEquals("Daan (schuldhulp)", c.label)
                assertEquals(DEBT_TOTAL_CENTS, c.overview.debts.totalCents)
                assertEquals(DEBT_TOTAL_CENTS, c.overview.debts.lines.sumOf { it.amountCents })
                assertTrue(c.overview.income.isNotEmpty())
                assertNotNull(c.overview.address)
                assertEquals(TYPES.toSet(), c.sources.map { it.vct }.toSet())
                for (s in c.sources) {
                    assertEquals(s.toString(), SourceOrigin.COLLECTED, s.origin)
                    assertTrue(s.toString(), s.obtainedAt in (before - 600)..(h.madeAt))
                    assertNotNull(s.toString(), s.issuedAt)
                    assertEquals(s.toString(), h.madeAt - s.issuedAt!!, s.ageSecs)
                    assertTrue(s.toString(), s.ageSecs in 0..600)
                }
                // The overview's lines point at the sources.
                assertTrue(c.overview.debts.lines.all { l -> c.sources.any { it.credentialId == l.credentialId } })

                // All clients at once, refreshed first: the same client, figures unchanged.
                val everyone = helper.helperOverview(null, true, settings)
                val again = everyone.clients.single()
                assertTrue(again.refreshFailures.toString(), again.refreshFailures.isEmpty())
                assertEquals(DEBT_TOTAL_CENTS, again.overview.debts.totalCents)
                // Each overview is a `view` use in the helper's log.
                val views = helper.auditLog().map { it.event }
                    .filterIsInstance<AuditEvent.MandateUsed>().filter { it.audience == "view" }
                assertEquals(2 * TYPES.size, views.size)
            }
        }
    }

    @Test
    fun theHelpersConsentPreviewShowsExactlyWhatLeaves() = runBlocking<Unit> {
        citizenWallet().use { citizen ->
            walletWithScheme().use { helper ->
                val m = mandate(citizen, helper)
                val (status, body) = LoopbackHttp.get(desk["new_session_url"] as String)
                assertEquals(body, 200, status)
                val s = MiniJson.obj(body)
                val resultUrl = (desk["new_session_url"] as String).replace("/api/session/new", "/api/result/${s["state"]}")
                val session = helper.startPresentation(s["request_uri"] as String, "en", http)

                // Looking is free: nothing sent, logged or recorded.
                val logged = helper.auditLog().size
                val preview = helper.previewPresentationOnBehalf(m.id, session, http)
                assertEquals(TYPES.size, preview.size)
                assertEquals(logged, helper.auditLog().size)
                assertEquals("pending", MiniJson.obj(LoopbackHttp.get(resultUrl).second)["status"])

                // Answering sends what the preview showed, nothing more.
                val outcome = helper.acceptPresentationOnBehalf(m.id, session, http)
                assertEquals(preview, outcome.disclosed)
                val r = MiniJson.obj(LoopbackHttp.get(resultUrl).second)
                assertEquals(r["reason"]?.toString(), "verified", r["status"])
                @Suppress("UNCHECKED_CAST")
                val claims = r["claims"] as Map<String, List<Map<String, Any?>>>
                for (d in preview) {
                    val got = claims[d.queryId]!!.single()
                    assertEquals(m.id, (got["on_behalf"] as Map<*, *>)["mandate_id"])
                    // The top-level claims the desk received are those the preview listed.
                    val shown = d.claims.map { it.removePrefix("/").substringBefore('/') }.toSet()
                    assertEquals(d.queryId, shown, (got["claims"] as Map<*, *>).keys)
                }
                // The same request previewed again is refused: answered once, never again.
                assertThrows(KluisException::class.java) {
                    runBlocking { helper.previewPresentationOnBehalf(m.id, session, http) }
                }
            }
        }
    }

    @Test
    fun aRevokedMandateIsATypedErrorAndNothingNewIsStored() = runBlocking<Unit> {
        citizenWallet().use { citizen ->
            walletWithScheme().use { helper ->
                val m = mandate(citizen, helper)
                val uwv = m.credentials.single { it.vct == INCOME }.issuer
                citizen.revokeMandate(m.id, http)

                val e = assertThrows(KluisException.InvalidCredential::class.java) {
                    runBlocking { helper.collectOnBehalf(m.id, uwv, emptyList(), settings) }
                }
                assertTrue(e.toString(), e.toString().contains("revoked"))
                // Nothing collected, the package dropped, the helper's own credentials untouched.
                assertTrue(collectedEvents(helper).isEmpty())
                assertTrue(helper.mandates(http).isEmpty())
                assertTrue(helper.credentials("en").isEmpty())
                assertEquals(
                    listOf(AuditEvent.MandateDropped(m.id, MandateState.REVOKED)),
                    helper.auditLog().map { it.event }.filterIsInstance<AuditEvent.MandateDropped>(),
                )
                // The refresh and the overview of a dropped mandate: typed, nothing new.
                assertThrows(KluisException.NotFound::class.java) {
                    runBlocking { helper.refreshOnBehalf(m.id, settings) }
                }
                assertThrows(KluisException.NotFound::class.java) {
                    runBlocking { helper.helperOverview(m.id, true, settings) }
                }
                assertTrue(collectedEvents(helper).isEmpty())
                val h = helper.helperOverview(null, false, settings)
                assertTrue(h.clients.isEmpty())
            }
        }
    }
}
