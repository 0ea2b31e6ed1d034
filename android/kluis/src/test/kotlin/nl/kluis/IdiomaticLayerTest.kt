package nl.kluis

import kotlinx.coroutines.runBlocking
import nl.kluis.TestSupport.newWallet
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.time.Duration

/** The hand-written helpers in src/main/kotlin/nl/kluis/Kluis.kt, on real errors from the library. */
class IdiomaticLayerTest {
    @Test
    fun pinErrorsExposeWaitAndAttemptsIdiomatically() = runBlocking<Unit> {
        val (wallet, _) = newWallet()
        wallet.use {
            it.lock()
            val e = assertThrows(KluisException::class.java) { runBlocking { it.unlock("111111") } }
            assertTrue(e.needsPin)
            assertEquals(9, e.attemptsLeftOrNull)
            assertEquals(Duration.ZERO, e.retryAfter)
        }
    }

    @Test
    fun otherErrorsHaveNoPinDetails() {
        val e = KluisException.NotFound("credential 00")
        assertFalse(e.needsPin)
        assertNull(e.retryAfter)
        assertNull(e.attemptsLeftOrNull)
    }
}
