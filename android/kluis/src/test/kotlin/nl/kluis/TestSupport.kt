package nl.kluis

import kotlinx.coroutines.runBlocking
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
