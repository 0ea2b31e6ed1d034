package nl.kluis

import kotlinx.coroutines.runBlocking
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.BeforeClass
import org.junit.Test
import java.io.File
import java.net.HttpURLConnection
import java.net.URI
import java.net.URLDecoder
import java.net.URLEncoder
import java.util.Collections

/**
 * The authorization code flow through the binding (HAIP 1.0 issuance, issue 16 item 1), against
 * the real simulated holders with DUO offering only that flow (`kluis-fixtures holders
 * --login-holder duo`): the app starts the authorization, a browser (here plain HTTP, as a
 * Custom Tab would: GET the login page, POST its form, stop at the 303) logs the citizen in, and
 * the URL the holder redirects to goes to `finishAuthorization`. Redirects an attacker bends
 * (mix-up `iss`, forged `state`, another redirect URI, a replayed redirect) are refused with the
 * typed refusal and store nothing.
 */
class AuthorizationTest {
    companion object {
        private lateinit var holders: FixtureProcess

        @BeforeClass
        @JvmStatic
        fun startHolders() {
            holders = FixtureProcess.start("holders", "--citizen", "daan", "--login-holder", "duo")
        }

        @AfterClass
        @JvmStatic
        fun stopHolders() {
            if (::holders.isInitialized) holders.close()
        }

        val http = recommendedHttpSettings().copy(allowLoopbackHttp = true)
        val settings = recommendedCollectSettings().copy(http = http, lang = "nl")

        /** An app's own redirect scheme (RFC 8252 §7.1); any URI the app can receive works. */
        const val REDIRECT = "nl.kluis.app:/oauth/callback"
        const val PASSWORD = "kluis-test"
    }

    private val duo get() = holders.line { it["holder"] == "duo" }

    /** A fresh offer from DUO (each login uses up its pushed request, not the offer). */
    private fun freshOffer(): String {
        val (status, body) = LoopbackHttp.postJson("${duo["admin"]}/offer", """{"citizen": "daan"}""")
        assertEquals(body, 200, status)
        return MiniJson.obj(body)["offer_uri"] as String
    }

    private suspend fun walletWithScheme(): Wallet {
        val (wallet, _) = TestSupport.newWallet()
        wallet.setScheme(duo["scheme"] as String, File(duo["scheme_key_file"] as String).readText(), http)
        return wallet
    }

    /** Starts a login for a fresh DUO offer. */
    private suspend fun start(wallet: Wallet, redirect: String = REDIRECT): AuthorizationSession {
        val session = wallet.previewOffer(freshOffer(), settings)
        return wallet.startAuthorization(session, redirect)
    }

    /** What a browser does on the holder's login page; returns where the holder sent it. */
    object Browser {
        class Page(val status: Int, val body: String, val location: String?)

        private fun call(url: String, form: Map<String, String>?): Page {
            val c = URI(url).toURL().openConnection() as HttpURLConnection
            c.instanceFollowRedirects = false // the redirect goes to the app, not to a server
            c.connectTimeout = 5000
            c.readTimeout = 10000
            if (form != null) {
                c.requestMethod = "POST"
                c.doOutput = true
                c.setRequestProperty("Content-Type", "application/x-www-form-urlencoded")
                val body = form.entries.joinToString("&") { (k, v) ->
                    URLEncoder.encode(k, "UTF-8") + "=" + URLEncoder.encode(v, "UTF-8")
                }
                c.outputStream.use { it.write(body.toByteArray()) }
            }
            val status = c.responseCode
            val text = (if (status < 400) c.inputStream else c.errorStream)?.bufferedReader()?.readText() ?: ""
            val location = c.getHeaderField("Location")
            c.disconnect()
            return Page(status, text, location)
        }

        /** Opens the login URL, fills in the form the page holds and submits it (to its action). */
        fun logIn(loginUrl: String, citizen: String, password: String): Page {
            val page = call(loginUrl, null)
            assertEquals(page.body, 200, page.status)
            val action = Regex("""<form method="post" action="([^"]+)"""").find(page.body)!!.groupValues[1]
            val hidden = Regex("""<input type="hidden" name="([^"]+)" value="([^"]*)"""").findAll(page.body)
                .associate { it.groupValues[1] to unescape(it.groupValues[2]) }
            assertTrue("the page has the username and password fields",
                page.body.contains("name=\"citizen_id\"") && page.body.contains("name=\"password\""))
            val target = URI(loginUrl).resolve(action).toString()
            return call(target, hidden + mapOf("citizen_id" to citizen, "password" to password))
        }

        private fun unescape(s: String) =
            s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    }

    /** The query of [url] with [name] set to [value] (or removed when null). */
    private fun withParam(url: String, name: String, value: String?): String {
        val (base, query) = url.split("?", limit = 2)
        val pairs = query.split("&").map { it.split("=", limit = 2) }.filter { URLDecoder.decode(it[0], "UTF-8") != name }
        val kept = pairs.map { it.joinToString("=") } + listOfNotNull(value?.let { "$name=" + URLEncoder.encode(it, "UTF-8") })
        return "$base?" + kept.joinToString("&")
    }

    class Recorder : CollectListener {
        val events: MutableList<CollectEvent> = Collections.synchronizedList(mutableListOf())
        override fun onEvent(event: CollectEvent) {
            events += event
        }
    }

    @Test
    fun theCitizenLogsInAtTheHolderAndTheCredentialIsCollected() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val session = wallet.previewOffer(freshOffer(), settings)
            val preview = session.preview()
            assertTrue(preview.needsLogin)
            assertNull("no transaction code: the login replaces it", preview.txCode)
            assertTrue(preview.trusted)
            assertEquals("Dienst Uitvoering Onderwijs (DUO)", preview.registeredName)
            // accept_offer is the wrong door for this offer (the session is used up by trying).
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { wallet.acceptOffer(session, null) } }
            assertFalse(session.isOpen())

            val again = wallet.previewOffer(freshOffer(), settings)
            val login = wallet.startAuthorization(again, REDIRECT)
            assertFalse(again.isOpen())
            assertTrue(login.isOpen())
            assertEquals(REDIRECT, login.redirectUri())
            assertEquals(preview.issuer, login.preview().issuer)
            val url = URI(login.authorizationUrl())
            assertEquals(URI(duo["issuer"] as String).authority, url.authority)
            assertTrue("PAR: only client_id and request_uri travel in the browser", url.rawQuery.split("&").map { it.substringBefore("=") }.toSet() == setOf("client_id", "request_uri"))

            // A wrong password stays on the login page with its message; the right one redirects.
            val wrong = Browser.logIn(login.authorizationUrl(), "daan", "not-the-password")
            assertEquals(401, wrong.status)
            assertNull(wrong.location)
            assertTrue(wrong.body.contains("id=\"error\""))
            val ok = Browser.logIn(login.authorizationUrl(), "daan", PASSWORD)
            assertEquals(303, ok.status)
            val back = ok.location!!
            assertTrue(back, back.startsWith("$REDIRECT?"))
            assertTrue(wallet.credentials("nl").isEmpty())

            val recorder = Recorder()
            val outcome = wallet.finishAuthorization(login, back, recorder)
            assertFalse(login.isOpen())
            val stored = outcome.stored.single()
            assertEquals("urn:nl:duo:student-debt:1", stored.vct)
            assertEquals(listOf(stored), wallet.credentials("nl"))
            assertEquals(
                listOf(CollectEvent.Started(preview.issuer), CollectEvent.Stored(preview.issuer, listOf(stored), emptyList())),
                recorder.events.toList(),
            )
            val collected = wallet.auditLog().map { it.event }.filterIsInstance<AuditEvent.CredentialCollected>()
            assertEquals(listOf(AuditEvent.CredentialCollected(stored.id, stored.issuer, stored.vct, stored.copies)), collected)

            // The same redirect again (a reloaded tab, an attacker's replay): the session is used up.
            assertThrows(KluisException.InvalidInput::class.java) { runBlocking { wallet.finishAuthorization(login, back) } }
            assertEquals(1, wallet.credentials("nl").size)
        }
    }

    @Test
    fun aBentRedirectIsRefusedWithItsReasonAndStoresNothing() = runBlocking<Unit> {
        walletWithScheme().use { wallet ->
            val before = wallet.auditLog().size
            fun refusal(block: suspend () -> Unit): KluisException.Authorization =
                assertThrows(KluisException.Authorization::class.java) { runBlocking { block() } }

            // Mix-up (RFC 9207): the code comes back named as another authorization server's.
            val a = start(wallet)
            val backA = Browser.logIn(a.authorizationUrl(), "daan", PASSWORD).location!!
            val mixUp = refusal { wallet.finishAuthorization(a, withParam(backA, "iss", "https://attacker.example")) }
            assertEquals(AuthorizationRefusal.WrongIssuer, mixUp.refusal)
            assertFalse("no code in the error", mixUp.reason.contains(Regex("code=")))
            assertFalse(a.isOpen())

            // No iss at all is the same refusal.
            val b = start(wallet)
            val backB = Browser.logIn(b.authorizationUrl(), "daan", PASSWORD).location!!
            assertEquals(AuthorizationRefusal.WrongIssuer, refusal { wallet.finishAuthorization(b, withParam(backB, "iss", null)) }.refusal)

            // A forged state, or another session's redirect injected into this one (CSRF).
            val c = start(wallet)
            val d = start(wallet)
            val backD = Browser.logIn(d.authorizationUrl(), "daan", PASSWORD).location!!
            assertEquals(AuthorizationRefusal.StateMismatch, refusal { wallet.finishAuthorization(c, backD) }.refusal)
            val e = start(wallet)
            val backE = Browser.logIn(e.authorizationUrl(), "daan", PASSWORD).location!!
            assertEquals(AuthorizationRefusal.StateMismatch, refusal { wallet.finishAuthorization(e, withParam(backE, "state", "forged")) }.refusal)

            // The answer delivered to another URI than the one this session pushed.
            val f = start(wallet)
            val backF = Browser.logIn(f.authorizationUrl(), "daan", PASSWORD).location!!
            val elsewhere = backF.replaceFirst(REDIRECT, "https://attacker.example/cb")
            assertEquals(AuthorizationRefusal.OtherRedirect, refusal { wallet.finishAuthorization(f, elsewhere) }.refusal)

            // A holder that keeps asking for a new DPoP nonce is given up on after one retry.
            assertEquals(204, LoopbackHttp.postJson("${duo["admin"]}/fault", """{"fault": "dpop_nonce_again"}""").first)
            try {
                val g = start(wallet)
                val backG = Browser.logIn(g.authorizationUrl(), "daan", PASSWORD).location!!
                val dpop = refusal { wallet.finishAuthorization(g, backG) }.refusal
                assertTrue(dpop.toString(), dpop is AuthorizationRefusal.DpopRefused)
            } finally {
                LoopbackHttp.postJson("${duo["admin"]}/fault", """{"fault": "none"}""")
            }

            assertTrue(wallet.credentials("nl").isEmpty())
            assertTrue(wallet.pendingCredentials().isEmpty())
            assertEquals(before, wallet.auditLog().size)

            // The real redirect still works with its own session: nothing above used it up.
            val ok = wallet.finishAuthorization(d, backD)
            assertEquals(listOf("urn:nl:duo:student-debt:1"), ok.stored.map { it.vct })
        }
    }
}
