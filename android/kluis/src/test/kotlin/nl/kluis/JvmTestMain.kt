package nl.kluis

import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

/**
 * Runs the JUnit 4 test classes named on the command line and closes with the line
 * `N passed, N failed` that CI reads (no Gradle here, so no Surefire report).
 * Under Gradle these same classes run as ordinary unit tests and this file is unused.
 */
object JvmTestMain {
    @JvmStatic
    fun main(args: Array<String>) {
        require(args.isNotEmpty()) { "usage: JvmTestMain TEST_CLASS..." }
        val classes = args.map { Class.forName(it) }.toTypedArray()
        val failed = mutableSetOf<Description>()
        val core = JUnitCore()
        core.addListener(object : RunListener() {
            override fun testFailure(failure: Failure) {
                failed += failure.description
                println("FAIL ${failure.description.displayName}")
                println(failure.trace.prependIndent("    "))
            }

            override fun testFinished(description: Description) {
                if (description !in failed) println("ok   ${description.displayName}")
            }
        })
        val result = core.run(*classes)
        // A failure outside a test (e.g. in @BeforeClass) counts as failed without a finished test.
        val failures = result.failureCount
        val passed = maxOf(0, result.runCount - failed.count { it.isTest })
        println("$passed passed, $failures failed")
        exitProcess(if (result.wasSuccessful() && passed > 0) 0 else 1)
    }
}
