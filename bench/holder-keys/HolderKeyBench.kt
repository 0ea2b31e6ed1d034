package nl.kluis

import kotlinx.coroutines.runBlocking
import java.io.File

/**
 * µs per KB-JWT: the same presentation (one DUO credential, one claim, one key-binding JWT) made
 * N times by two wallets in this one JVM. Wallet A keeps its holder keys in the core (software
 * P-256 keys sealed in the vault, the default); wallet B keeps them in a Kotlin [HolderKeyStore]
 * ([JcaHolderKeyStore] over java.security) that the core reaches through the uniffi foreign trait
 * and whose every signature it verifies before use. Every `present` also writes its `Disclosed`
 * log entry; both wallets pay that alike, so the difference of the medians is what signing through
 * the trait costs per KB-JWT over signing in the core. Calls alternate A, B, A, B so that load
 * from elsewhere falls on both. Run by bench/run-holder-key-bench.sh; prints one summary.
 */
object HolderKeyBench {
    private const val PIN = "246810"
    private const val LANDLORD = "woningcorporatie-eemland"

    /** The JCA store, timing its own `sign` (the JVM's ECDSA alone, without the crossing). */
    class TimedStore : JcaHolderKeyStore() {
        val signNanos = ArrayList<Long>()
        @Volatile var recording = false

        override suspend fun sign(keyId: String, signingInput: ByteArray): ByteArray {
            val t0 = System.nanoTime()
            val signature = super.sign(keyId, signingInput)
            if (recording) synchronized(signNanos) { signNanos += System.nanoTime() - t0 }
            return signature
        }
    }

    private fun freshOffer(fixtures: FixtureProcess, holder: String): Map<String, Any?> {
        for (i in 0 until 6) {
            val (status, body) = LoopbackHttp.postJson("http://127.0.0.1:${fixtures.portBase + i}/admin/offer", """{"citizen": "daan"}""")
            if (status != 200) continue
            val offer = MiniJson.obj(body)
            if (offer["holder"] == holder) return offer
        }
        error("no holder $holder on ports N..N+5")
    }

    private fun percentile(sorted: List<Long>, p: Double) = sorted[((sorted.size - 1) * p).toInt()] / 1000.0

    private fun describe(nanos: List<Long>): String {
        val s = nanos.sorted()
        return "%.1f µs (p10 %.1f, p90 %.1f)".format(percentile(s, 0.5), percentile(s, 0.1), percentile(s, 0.9))
    }

    @JvmStatic
    fun main(args: Array<String>) = runBlocking {
        val n = args.getOrNull(0)?.toInt() ?: 1000
        val warmup = args.getOrNull(1)?.toInt() ?: 300
        val root = File(System.getProperty("kluis.benchDir") ?: error("system property kluis.benchDir is not set"))
        val http = recommendedHttpSettings().copy(allowLoopbackHttp = true)
        val settings = recommendedCollectSettings().copy(http = http)
        FixtureProcess.start("verifiers", "--citizen", "daan").use { fixtures ->
            val announced = fixtures.line { it["party"] == LANDLORD }
            val schemeKey = File(announced["scheme_key_file"] as String).readText()

            suspend fun wallet(name: String, holderKeys: HolderKeyStore?): Pair<Wallet, String> {
                val dir = File(root, name).apply { mkdirs() }
                val deviceKeys = softwareKeyStore(File(root, "$name-device-keys").path)
                val wallet = Wallet.create(dir.path, PIN, dangerousTestWalletOptions(), deviceKeys, holderKeys, 120_000uL)
                wallet.setScheme(announced["scheme"] as String, schemeKey, http)
                val offer = freshOffer(fixtures, "duo")
                wallet.acceptOffer(wallet.previewOffer(offer["offer_uri"] as String, settings), offer["tx_code"] as String)
                return wallet to wallet.credentials("en").single().id
            }

            val store = TimedStore()
            val (software, softwareId) = wallet("software", null)
            val (foreign, foreignId) = wallet("foreign", store)
            software.use {
                foreign.use {
                    val claim = listOf(software.credential(softwareId, "en").claims.first { it.selectivelyDisclosable }.path)
                    check(foreign.credential(foreignId, "en").claims.any { it.path == claim[0] })
                    val a = ArrayList<Long>(n)
                    val b = ArrayList<Long>(n)
                    for (i in 0 until warmup + n) {
                        if (i == warmup) store.recording = true
                        val t0 = System.nanoTime()
                        software.present(softwareId, claim, "nonce-a-$i", "https://bench.example", "bench")
                        val t1 = System.nanoTime()
                        foreign.present(foreignId, claim, "nonce-b-$i", "https://bench.example", "bench")
                        val t2 = System.nanoTime()
                        if (i >= warmup) {
                            a += t1 - t0
                            b += t2 - t1
                        }
                    }
                    val ma = percentile(a.sorted(), 0.5)
                    val mb = percentile(b.sorted(), 0.5)
                    println("present (1 disclosure + 1 KB-JWT, log entry written), $n calls each after $warmup warm-up, medians:")
                    println("  A holder key in the core (software)           ${describe(a)}")
                    println("  B holder key in a Kotlin HolderKeyStore (JCA) ${describe(b)}")
                    println("  B - A: signing through the foreign trait costs %.1f µs more per KB-JWT; B / A = %.2f".format(mb - ma, mb / ma))
                    println("  inside the Kotlin store: JCA SHA256withECDSA sign ${describe(store.signNanos)}")
                    println("  signatures made by the store while timed: ${store.signNanos.size} (expected $n)")
                }
            }
        }
    }
}
