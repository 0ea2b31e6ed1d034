package nl.kluis

import kotlinx.coroutines.runBlocking
import org.junit.AfterClass
import org.junit.Assert.assertEquals
import org.junit.BeforeClass
import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/**
 * Shared plumbing of the JVM tests: fresh directories, a fast wallet, and real credentials.
 *
 * Credentials come from the `sample_issuer` example of kluis-ffi (path in the system property
 * `kluis.sampleIssuer`): the simulated Dutch data holders sign fresh SD-JWT VCs bound to the
 * wallet's own holder key, so the tests import what an app would import.
 */
object TestSupport {
    const val PIN = "246810"

    fun tempDir(prefix: String): File = Files.createTempDirectory("kluis-$prefix-").toFile().apply { deleteOnExit() }

    /** A new wallet with the cheap test KDF and the software key store, unlocked. */
    fun newWallet(keyStore: DeviceKeyStore? = null): Pair<Wallet, File> = runBlocking {
        val dir = tempDir("vault")
        val store = keyStore ?: softwareKeyStore(tempDir("keys").path)
        Wallet.create(dir.path, PIN, dangerousTestWalletOptions(), store) to dir
    }

    /** One issued credential and its issuer. */
    data class Sample(val issuerId: String, val vct: String, val compact: String)

    /** The samples for `citizen` bound to `holderJwk`, plus every issuer's (id, public JWK). */
    data class Samples(val issuers: List<Pair<String, String>>, val credentials: List<Sample>)

    fun issueSamples(citizen: String, holderJwk: String): Samples {
        val tool = System.getProperty("kluis.sampleIssuer")
            ?: error("system property kluis.sampleIssuer (path of the sample_issuer example) is not set")
        val proc = ProcessBuilder(tool, citizen, holderJwk).redirectError(ProcessBuilder.Redirect.INHERIT).start()
        val out = proc.inputStream.bufferedReader().readText()
        check(proc.waitFor(60, TimeUnit.SECONDS) && proc.exitValue() == 0) { "sample_issuer failed (see stderr)" }
        return parseSamples(out)
    }

    /** Reads `issuer\tID\tJWK` and `credential\tISSUER\tVCT\tCOMPACT` lines. */
    private fun parseSamples(out: String): Samples {
        val rows = out.lines().filter { it.isNotBlank() }.map { it.split('\t') }
        val issuers = rows.filter { it[0] == "issuer" }.map { it[1] to it[2] }
        val creds = rows.filter { it[0] == "credential" }.map { Sample(it[1], it[2], it[3]) }
        check(creds.isNotEmpty()) { "sample_issuer issued nothing" }
        return Samples(issuers, creds)
    }
}

/**
 * The set-up every test class against the simulated network shares: one `kluis-fixtures
 * verifiers` process per class (holders, scheme, landlord, bank, relay, mandate registry, debt
 * desk on loopback, started before the first test and stopped after the last), the loopback HTTP
 * settings, and the landlord's routes as the fixtures announce them.
 */
abstract class VerifierNetworkTest {
    companion object {
        private var network: FixtureProcess? = null

        /** The running fixtures of the current test class. */
        val fixtures: FixtureProcess get() = network ?: error("the fixture network is not running")

        const val LANDLORD = "woningcorporatie-eemland"
        val http = recommendedHttpSettings().copy(allowLoopbackHttp = true)
        val settings = recommendedCollectSettings().copy(http = http)

        @BeforeClass
        @JvmStatic
        fun startNetwork() {
            network = FixtureProcess.start("verifiers", "--citizen", "daan")
        }

        @AfterClass
        @JvmStatic
        fun stopNetwork() {
            network?.close()
            network = null
        }
    }

    /** The landlord as announced: its first request, result and new-session URLs. */
    protected val announced get() = fixtures.line { it["party"] == LANDLORD }

    /** The landlord's back end (its admin test hooks are beside the session routes). */
    protected val landlord get() = (announced["new_session_url"] as String).removeSuffix("/api/session/new")

    /** A fresh request from the landlord: (result URL, openid4vp link). */
    protected fun newRequest(): Pair<String, String> {
        val (status, body) = LoopbackHttp.get(announced["new_session_url"] as String)
        assertEquals(body, 200, status)
        val s = MiniJson.obj(body)
        return "$landlord/api/result/${s["state"]}" to s["request_uri"] as String
    }

    /** The landlord's result for a request (200 expected). */
    protected fun result(resultUrl: String): Map<String, Any?> {
        val (status, body) = LoopbackHttp.get(resultUrl)
        assertEquals(body, 200, status)
        return MiniJson.obj(body)
    }

    /** A fresh offer from [holder] (its admin route; an offer's code works once). */
    protected fun freshOffer(holder: String): Map<String, Any?> {
        for (i in 0 until 6) { // the holders listen on N..N+5 (docs/PRESENTING.md)
            val (status, body) = LoopbackHttp.postJson("http://127.0.0.1:${fixtures.portBase + i}/admin/offer", """{"citizen": "daan"}""")
            if (status != 200) continue // this holder has nothing about the citizen
            val offer = MiniJson.obj(body)
            if (offer["holder"] == holder) return offer
        }
        error("no holder $holder on ports N..N+5")
    }
}
