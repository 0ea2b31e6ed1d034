package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.issueSamples
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Trust, import, the overview, one credential's claims, delete and present, through the binding. */
class CredentialsTest {
    /** A wallet that trusts every simulated holder, and Sanne's credentials bound to its key. */
    private fun walletWithSamples(): Pair<Wallet, TestSupport.Samples> = runBlocking {
        val (wallet, _) = newWallet()
        val samples = issueSamples("sanne", wallet.holderPublicJwk())
        for ((issuer, jwk) in samples.issuers) wallet.addTrustedIssuer(issuer, jwk)
        wallet to samples
    }

    @Test
    fun importedCredentialsAppearInTheOverview() = runBlocking<Unit> {
        val (wallet, samples) = walletWithSamples()
        wallet.use {
            assertEquals(samples.issuers.size, it.trustedIssuers().size)
            for (s in samples.credentials) {
                val summary = it.importCredential(s.compact)
                assertEquals(s.issuerId, summary.issuer)
                assertEquals(s.vct, summary.vct)
                assertEquals(HolderBinding.THIS_WALLET, summary.binding)
                assertEquals(1u, summary.copies)
                assertEquals("never status-checked", null, summary.status)
            }
            val overview = it.credentials("nl")
            assertEquals(samples.credentials.map { s -> s.vct }, overview.map { c -> c.vct })
            assertEquals(samples.credentials.size.toULong(), it.status().credentials)
            assertTrue(overview.all { c -> (c.expiresAt ?: 0L) > c.importedAt })
        }
    }

    @Test
    fun credentialDetailsListTheClaimsAsJson() = runBlocking<Unit> {
        val (wallet, samples) = walletWithSamples()
        wallet.use {
            val id = it.importCredential(samples.credentials.first().compact).id
            val details = it.credential(id, "en")
            assertEquals(id, details.summary.id)
            assertTrue(details.claims.isNotEmpty())
            assertTrue(details.claims.all { c -> c.path.startsWith("/") && c.valueJson.isNotEmpty() })
            assertTrue("the fixtures make every claim disclosable", details.claims.all { c -> c.selectivelyDisclosable })
        }
    }

    @Test
    fun theSameCredentialTwiceIsAlreadyExists() = runBlocking<Unit> {
        val (wallet, samples) = walletWithSamples()
        wallet.use {
            val compact = samples.credentials.first().compact
            it.importCredential(compact)
            assertThrows(KluisException.AlreadyExists::class.java) { runBlocking { it.importCredential(compact) } }
        }
    }

    @Test
    fun aCredentialFromAnUntrustedIssuerIsRefusedByName() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            val sample = issueSamples("sanne", it.holderPublicJwk()).credentials.first()
            val e = assertThrows(KluisException.UntrustedIssuer::class.java) { runBlocking { it.importCredential(sample.compact) } }
            assertEquals(sample.issuerId, e.issuer)
            assertTrue(it.credentials("nl").isEmpty())
        }
    }

    @Test
    fun garbageIsAnInvalidCredential() = runBlocking<Unit> {
        val (wallet, _) = walletWithSamples()
        wallet.use {
            assertThrows(KluisException.InvalidCredential::class.java) { runBlocking { it.importCredential("not.a.credential~") } }
        }
    }

    @Test
    fun aCredentialForAnotherWalletIsRefused() = runBlocking<Unit> {
        val (wallet, _) = walletWithSamples()
        val (other, _) = newWallet()
        wallet.use {
            val foreign = issueSamples("sanne", other.use { o -> o.holderPublicJwk() }).credentials.first()
            assertThrows(KluisException.InvalidCredential::class.java) { runBlocking { it.importCredential(foreign.compact) } }
        }
    }

    @Test
    fun deleteRemovesACredentialAndIsLogged() = runBlocking<Unit> {
        val (wallet, samples) = walletWithSamples()
        wallet.use {
            val id = it.importCredential(samples.credentials.first().compact).id
            it.deleteCredential(id)
            assertTrue(it.credentials("nl").isEmpty())
            assertThrows(KluisException.NotFound::class.java) { runBlocking { it.credential(id, "nl") } }
            assertTrue(it.auditLog().any { e -> e.event == AuditEvent.CredentialDeleted(id) })
        }
    }

    @Test
    fun presentDisclosesOnlyTheChosenClaimsAndLogsThem() = runBlocking<Unit> {
        val (wallet, samples) = walletWithSamples()
        wallet.use {
            val id = it.importCredential(samples.credentials.first().compact).id
            val claims = it.credential(id, "nl").claims
            val chosen = claims.first().path
            val presentation = it.present(id, listOf(chosen), "nonce-123", "https://verhuur.example", "rental application")
            // Compact SD-JWT+KB: issuer JWT ~ chosen disclosures ~ key-binding JWT.
            val parts = presentation.split('~')
            assertTrue(parts.size in 3..claims.size + 1)
            assertEquals(3, parts.last().split('.').size)
            val logged = it.auditLog().last().event
            assertEquals(AuditEvent.Disclosed(id, "https://verhuur.example", listOf(chosen), "rental application", null, null, null), logged)
            assertThrows(KluisException.InvalidInput::class.java) {
                runBlocking { it.present(id, listOf("/no_such_claim"), "n", "https://verhuur.example", null) }
            }
            assertFalse(presentation.contains(' '))
        }
    }
}
