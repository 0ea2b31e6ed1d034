package nl.kluis

import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.newWallet
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import java.io.File

/**
 * Collecting through the binding, from the real simulated holders: `kluis-fixtures holders` runs
 * as a child process (six OpenID4VCI holders and the scheme on loopback HTTP), and the wallet pins
 * the scheme, previews offers, collects with the transaction code, picks up a deferred credential,
 * refreshes, checks status lists and builds the overview. Each test collects from its own holder:
 * an offer's pre-authorized code works once.
 */
class CollectTest {
    companion object {
        private lateinit var holders: FixtureProcess

        @BeforeClass
        @JvmStatic
        fun startHolders() {
            holders = FixtureProcess.start("holders", "--citizen", "daan")
        }

        @AfterClass
        @JvmStatic
        fun stopHolders() {
            if (::holders.isInitialized) holders.close()
        }

        /** Plain http to loopback is allowed here only: the simulated holders are not https. */
        val http = recommendedHttpSettings().copy(allowLoopbackHttp = true)
        val settings = recommendedCollectSettings().copy(http = http, lang = "nl")
    }

    private fun offer(holder: String) = holders.line { it["holder"] == holder }

    private fun typeMetadata(): List<String> {
        val dir = File(System.getProperty("kluis.typeMetadataDir") ?: error("kluis.typeMetadataDir is not set"))
        return dir.listFiles { f -> f.name.endsWith(".json") }!!.sorted().map { it.readText() }
    }

    /** A new wallet with the fixtures' type metadata and the scheme pinned. */
    private suspend fun walletWithScheme(): Wallet {
        val (wallet, _) = newWallet()
        wallet.setTypeMetadata(typeMetadata())
        val any = offer("duo")
        val key = File(any["scheme_key_file"] as String).readText()
        val scheme = wallet.setScheme(any["scheme"] as String, key, http)
        assertEquals(6uL, scheme.holders)
        assertTrue(scheme.keyThumbprint.isNotBlank())
        assertEquals(scheme, wallet.scheme())
        return wallet
    }

    @Test
    fun previewThenCollectWithTheTransactionCode() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val duo = offer("duo")
            val session = wallet.previewOffer(duo["offer_uri"] as String, settings)
            val preview = session.preview()
            assertEquals("Dienst Uitvoering Onderwijs (DUO)", preview.registeredName)
            assertTrue(preview.listedInScheme)
            assertTrue(preview.trusted)
            assertFalse(preview.trustedByHand)
            assertEquals(duo["issuer"], preview.issuer)
            assertEquals(listOf("urn:nl:duo:student-debt:1"), preview.credentials.map { it.vct })
            assertTrue(preview.credentials.all { it.listed && !it.name.isNullOrBlank() })
            assertEquals(TxInputMode.NUMERIC, preview.txCode?.inputMode)
            assertEquals(6u, preview.txCode?.length)
            // Nothing is stored by looking.
            assertTrue(wallet.credentials("nl").isEmpty())

            val outcome = wallet.acceptOffer(session, duo["tx_code"] as String)
            assertFalse(session.isOpen())
            assertEquals(1, outcome.stored.size)
            assertTrue(outcome.pending.isEmpty())
            assertTrue(outcome.requests >= 4uL)
            val stored = outcome.stored.single()
            assertEquals(settings.copies, stored.copies)
            assertEquals(stored, wallet.credentials("nl").single())
            assertEquals("urn:nl:duo:student-debt:1", stored.vct)
            assertNotNull(stored.name)

            // Freshness: the holder's signed status list says valid, kept on the summary; a
            // forced refresh re-issues it under the same id.
            val reports = wallet.checkStatus(http)
            assertEquals(listOf(stored.id to CredentialState.VALID), reports.map { it.id to it.status })
            assertEquals(CredentialState.VALID, wallet.credential(stored.id, "nl").summary.status)
            val refreshed = wallet.refresh(true, settings)
            assertEquals(refreshed.failed.toString(), listOf(stored.id), refreshed.refreshed.map { it.id })
            assertEquals(0uL, refreshed.fresh)

            // A second holder, two types in one offer: the overview joins them.
            val gemeente = offer("gemeente-utrecht")
            val both = wallet.acceptOffer(wallet.previewOffer(gemeente["offer_uri"] as String, settings), gemeente["tx_code"] as String)
            assertEquals(2, both.stored.size)

            val overview = wallet.overview("nl")
            assertEquals(3, overview.credentials.size)
            assertEquals(setOf("Dienst Uitvoering Onderwijs (DUO)", "Gemeente Utrecht"), overview.debts.lines.map { it.holder }.toSet())
            assertTrue(overview.debts.lines.any { it.credentialId == stored.id && it.amountCents > 0L })
            assertEquals(overview.debts.lines.sumOf { it.amountCents }, overview.debts.totalCents)
            assertNotNull(overview.address)
            assertTrue(overview.address!!.locality.isNotBlank())
            assertTrue(overview.warnings.isEmpty())

            val collected = wallet.auditLog().map { it.event }.filterIsInstance<AuditEvent.CredentialCollected>()
            assertEquals(3, collected.size)
            assertEquals(AuditEvent.CredentialCollected(stored.id, stored.issuer, stored.vct, settings.copies), collected.first())
            assertTrue(wallet.auditLog().any { it.event == AuditEvent.CredentialRefreshed(stored.id, stored.issuer, stored.vct) })

        }
    }

    @Test
    fun aWrongTransactionCodeIsTypedAndStoresNothing() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val cak = offer("cak")
            val right = cak["tx_code"] as String
            val wrong = if (right == "000000") "111111" else "000000"
            val session = wallet.previewOffer(cak["offer_uri"] as String, settings)
            val before = wallet.auditLog().size
            val e = assertThrows(KluisException.Issuance::class.java) { runBlocking { wallet.acceptOffer(session, wrong) } }
            // The holder's OAuth error code (RFC 6749 §5.2) is what the app words: "wrong code".
            assertEquals(IssuanceFailure.Refused(400.toUShort(), "invalid_grant"), e.kind)
            assertFalse("no code in the error", e.detail.contains(right) || e.detail.contains(wrong))
            assertTrue(wallet.credentials("nl").isEmpty())
            assertEquals(before, wallet.auditLog().size)
            // The session is used up; a fresh preview with the right code works.
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { wallet.acceptOffer(session, right) } }
            val again = wallet.previewOffer(cak["offer_uri"] as String, settings)
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { wallet.acceptOffer(again, null) } }
            val ok = wallet.acceptOffer(wallet.previewOffer(cak["offer_uri"] as String, settings), right)
            assertEquals(listOf("urn:nl:cak:care-arrears:1"), ok.stored.map { it.vct })
        }
    }

    @Test
    fun aHolderThatIsDownIsNetworkUnreachable() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            // An offer by reference at a loopback port nothing listens on: the holder is down.
            val closed = java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { it.localPort }
            val uri = "openid-credential-offer://?credential_offer_uri=" +
                java.net.URLEncoder.encode("http://127.0.0.1:$closed/offer/1", "UTF-8")
            val e = assertThrows(KluisException.Network::class.java) { runBlocking { wallet.previewOffer(uri, settings) } }
            assertEquals(NetworkFailure.Unreachable, e.kind)
            assertTrue(wallet.credentials("nl").isEmpty())
        }
    }

    @Test
    fun withoutTheSchemeAHolderIsNotTrusted() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            assertNull(it.scheme())
            val uwv = offer("uwv")
            val session = it.previewOffer(uwv["offer_uri"] as String, settings)
            val preview = session.preview()
            assertFalse(preview.trusted)
            assertFalse(preview.listedInScheme)
            assertNull(preview.registeredName)
            val e = assertThrows(KluisException.UntrustedIssuer::class.java) {
                runBlocking { it.acceptOffer(session, uwv["tx_code"] as String) }
            }
            assertEquals(preview.issuer, e.issuer)
            assertTrue(it.credentials("nl").isEmpty())
        }
    }

    @Test
    fun aDeferredCredentialIsPickedUpLater() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val bd = offer("belastingdienst")
            // No waiting at accept: the Belastingdienst's assessment stays pending.
            val quick = settings.copy(deferredWaitMs = 0uL)
            val outcome = wallet.acceptOffer(wallet.previewOffer(bd["offer_uri"] as String, quick), bd["tx_code"] as String)
            assertTrue(outcome.stored.isEmpty())
            val pending = outcome.pending.single()
            assertEquals("urn:nl:belastingdienst:income-assessment:1", pending.vct)
            assertEquals(listOf(pending.id), wallet.pendingCredentials().map { it.id })
            var delivered = emptyList<CredentialSummary>()
            for (i in 1..20) {
                delivered = wallet.pollDeferred(settings).delivered
                if (delivered.isNotEmpty()) break
                delay(250)
            }
            assertEquals(listOf("urn:nl:belastingdienst:income-assessment:1"), delivered.map { it.vct })
            assertTrue(wallet.pendingCredentials().isEmpty())
            assertEquals(delivered, wallet.credentials("nl"))
            assertTrue(wallet.overview("en").income.any { it.kind == IncomeKind.TAXABLE_INCOME_BOX1 })
        }
    }

    /** A fresh offer from [holder] (each pre-authorized code works once; other tests use theirs). */
    private fun freshOffer(holder: String): Map<String, Any?> {
        val (status, body) = LoopbackHttp.postJson("${offer(holder)["issuer"]}/admin/offer", """{"citizen": "daan"}""")
        assertEquals(body, 200, status)
        return MiniJson.obj(body)
    }

    /** How an app words an overview warning: the code and its parameters, in its own language. */
    private fun dutch(w: OverviewWarning): String = when (w) {
        is OverviewWarning.LeftOut -> "${w.typeName} (${w.holder}) is " + when (w.state) {
            CredentialState.REVOKED -> "ingetrokken"
            CredentialState.SUSPENDED -> "geschorst"
            CredentialState.EXPIRED -> "verlopen"
            CredentialState.VALID, CredentialState.UNKNOWN -> error("not a reason to leave out: ${w.state}")
        } + " en telt niet mee"
        is OverviewWarning.Unreadable -> "${w.typeName} (${w.holder}) is niet te lezen"
    }

    @Test
    fun theOverviewCountsInCentsAndNamesWhatItLeavesOutAsACode() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val cak = freshOffer("cak")
            val stored = wallet.acceptOffer(wallet.previewOffer(cak["offer_uri"] as String, settings), cak["tx_code"] as String).stored.single()
            val before = wallet.overview("nl")
            // Integer cents, exactly the claim's decimal euros.
            val claim = wallet.credential(stored.id, "nl").claims.single { it.path == "/arrears_eur" }
            val cents = java.math.BigDecimal(claim.valueJson).movePointRight(2).longValueExact()
            assertTrue(claim.valueJson, cents % 100L != 0L) // the fixture's arrears have cents
            val line = before.debts.lines.single { it.credentialId == stored.id }
            assertEquals(cents, line.amountCents)
            assertEquals(cents, before.debts.totalCents)
            assertTrue(before.warnings.isEmpty())

            // The CAK revokes it; after a status check the overview leaves it out, and says why as
            // a code with parameters, not as an English sentence.
            val (status, body) = LoopbackHttp.postJson("${offer("cak")["issuer"]}/admin/status", """{"status": "revoked"}""")
            assertEquals(body, 200, status)
            assertEquals(CredentialState.REVOKED, wallet.checkStatus(http).single().status)
            val after = wallet.overview("nl")
            assertEquals(0L, after.debts.totalCents)
            assertTrue(after.debts.lines.isEmpty())
            val left = OverviewWarning.LeftOut(stored.id, line.kind, line.holder, CredentialState.REVOKED)
            assertEquals(listOf(left), after.warnings)
            assertEquals(listOf("${line.kind} (${line.holder}) is ingetrokken en telt niet mee"), after.warnings.map(::dutch))
            // The log keeps the change as an enum too.
            assertTrue(wallet.auditLog().any { it.event == AuditEvent.CredentialStatusChanged(stored.id, CredentialState.REVOKED) })
        }
    }

    @Test
    fun badInputIsInvalidInput() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            assertThrows(KluisException.InvalidInput::class.java) { it.setTypeMetadata(listOf("{not json")) }
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { it.previewOffer("https://", settings) } }
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { it.setScheme("http://127.0.0.1:1/x", "{}", http) } }
            // Loopback http is refused with the settings an app ships with.
            val duo = offer("duo")
            val strict = recommendedCollectSettings()
            assertFalse(strict.http.allowLoopbackHttp)
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { it.previewOffer(duo["offer_uri"] as String, strict) } }
        }
    }
}
