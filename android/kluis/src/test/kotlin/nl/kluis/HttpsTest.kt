package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.newWallet
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import java.io.File
import java.util.Base64

/**
 * Collecting over **https**: `kluis-fixtures holders --https` serves every holder with TLS, its
 * certificates from a test CA made for that run (announced as `tls_ca`). The wallet collects when
 * the CA is among its trusted roots, and refuses with [KluisException.Tls] — storing nothing —
 * when it is not; the JVM's trust store, handed over with [trustingOnly], stands in for
 * Android's (`PlatformTrustRoots.android()` on a phone).
 */
class HttpsTest {
    companion object {
        private lateinit var holders: FixtureProcess

        @BeforeClass
        @JvmStatic
        fun startHolders() {
            holders = FixtureProcess.start("holders", "--https", "--citizen", "daan")
        }

        @AfterClass
        @JvmStatic
        fun stopHolders() {
            if (::holders.isInitialized) holders.close()
        }

        /** The scheme's list is plain http on loopback; the holders are https. */
        val http = recommendedHttpSettings().copy(allowLoopbackHttp = true)
    }

    private fun offer(holder: String) = holders.line { it["holder"] == holder }

    private fun testCa(): ByteArray = Base64.getDecoder().decode(offer("duo")["tls_ca"] as String)

    private fun settings(http: HttpSettings) = recommendedCollectSettings().copy(http = http, lang = "nl")

    private suspend fun walletWithScheme(): Wallet {
        val (wallet, _) = newWallet()
        val any = offer("duo")
        wallet.setScheme(any["scheme"] as String, File(any["scheme_key_file"] as String).readText(), http)
        return wallet
    }

    /** Refused in the TLS handshake: typed, naming the holder, nothing stored or logged. */
    private suspend fun assertRefused(wallet: Wallet, holder: String, http: HttpSettings) {
        val before = wallet.auditLog().size
        val e = assertThrows(KluisException.Tls::class.java) {
            runBlocking { wallet.previewOffer(offer(holder)["offer_uri"] as String, settings(http)) }
        }
        assertTrue(e.reason, e.reason.contains("https://127.0.0.1:"))
        assertTrue(wallet.credentials("nl").isEmpty())
        assertEquals(before, wallet.auditLog().size)
    }

    @Test
    fun collectsFromAnHttpsHolderWhoseCaIsTrusted() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val duo = offer("duo")
            val trusted = settings(http.copy(trustedRoots = listOf(testCa())))
            val session = wallet.previewOffer(duo["offer_uri"] as String, trusted)
            assertTrue(session.preview().trusted)
            val outcome = wallet.acceptOffer(session, duo["tx_code"] as String)
            assertEquals(1, outcome.stored.size)
            val stored = wallet.credentials("nl").single()
            assertEquals(duo["issuer"], stored.issuer)
            assertTrue(stored.issuer.startsWith("https://127.0.0.1:"))
        }
    }

    @Test
    fun anUntrustedCaIsRefusedWithATypedError() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            // The platform's roots alone do not know the test CA.
            assertRefused(wallet, "uwv", http)
        }
    }

    @Test
    fun thePlatformStoreHandedOverDecidesAlone() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val platform = PlatformTrustRoots.jvm()
            assertTrue("the JVM trusts no CA at all", platform.isNotEmpty())
            // Exactly the platform's store: the test CA is not in it.
            assertRefused(wallet, "rdw", http.trustingOnly(platform))
            // The platform's store plus the test CA: collected.
            val rdw = offer("rdw")
            val both = settings(http.trustingOnly(platform + listOf(testCa())))
            val outcome = wallet.acceptOffer(wallet.previewOffer(rdw["offer_uri"] as String, both), rdw["tx_code"] as String)
            assertTrue(outcome.stored.isNotEmpty())
            assertEquals(outcome.stored.toSet(), wallet.credentials("nl").toSet())
            assertTrue(outcome.stored.all { it.issuer == rdw["issuer"] })
        }
    }

    @Test
    fun rootsThatAreNotCertificatesAreInvalidInput() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val notDer = "-----BEGIN CERTIFICATE-----".toByteArray()
            val e = assertThrows(KluisException.InvalidInput::class.java) {
                runBlocking { wallet.previewOffer(offer("cak")["offer_uri"] as String, settings(http.copy(trustedRoots = listOf(testCa(), notDer)))) }
            }
            assertTrue(e.reason, e.reason.contains("trusted root 1"))
            assertTrue(wallet.credentials("nl").isEmpty())
        }
    }
}
