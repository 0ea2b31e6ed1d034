package nl.kluis

import java.security.KeyStore
import java.security.cert.X509Certificate
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509TrustManager

/**
 * The platform's TLS trust store, handed to the core through [HttpSettings.trustedRoots]
 * (docs/BINDINGS.md "HTTPS on the phones"). The core's TLS is OpenSSL on Android, and OpenSSL
 * there sees only the factory copy of the CA certificates, without the updates Google Play system
 * updates bring (Android 14+) and without the CAs the user disabled; `AndroidCAStore` is the live
 * store the platform's own TLS uses.
 */
object PlatformTrustRoots {
    /**
     * The CA certificates (DER) of Android's trust store: the system CAs the user has not
     * disabled, plus the user-installed ones only with [includeUserCas] (apps targeting API 24+
     * trust those only when their network security config says so). Android only.
     */
    fun android(includeUserCas: Boolean = false): List<ByteArray> {
        val store = KeyStore.getInstance("AndroidCAStore")
        store.load(null)
        return store.aliases().toList()
            .filter { it.startsWith("system:") || (includeUserCas && it.startsWith("user:")) }
            .mapNotNull { (store.getCertificate(it) as? X509Certificate)?.encoded }
    }

    /** The roots the JVM's default trust manager accepts (desktop JVMs; tests). */
    fun jvm(): List<ByteArray> {
        val factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
        factory.init(null as KeyStore?)
        return factory.trustManagers.filterIsInstance<X509TrustManager>()
            .flatMap { it.acceptedIssuers.toList() }
            .map { it.encoded }
    }
}

/**
 * These settings with TLS trusting exactly [roots] (the platform's store from
 * [PlatformTrustRoots], possibly with an organisation's CA added) and not the TLS stack's own
 * list. What an Android app passes: `recommendedHttpSettings().trustingOnly(PlatformTrustRoots.android())`.
 */
fun HttpSettings.trustingOnly(roots: List<ByteArray>): HttpSettings =
    copy(trustedRoots = roots, platformRoots = false)
