package nl.kluis

import java.io.File
import java.net.InetAddress
import java.net.ServerSocket
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * The real `kluis-fixtures` binary (path in the system property `kluis.fixtures`, set by
 * bindings/test-foreign.sh) as a child process: simulated data holders or requesting parties on
 * loopback, announced as one JSON object per line on stdout. [close] kills it.
 */
class FixtureProcess private constructor(private val process: Process, val portBase: Int) : AutoCloseable {
    private val lines = LinkedBlockingQueue<Map<String, Any?>>()
    private val seen = mutableListOf<Map<String, Any?>>()

    /** Kills the child if the JVM exits without [close] (a crashed or interrupted test run). */
    private val killer = Thread { process.destroyForcibly() }

    init {
        Runtime.getRuntime().addShutdownHook(killer)
        thread(isDaemon = true, name = "kluis-fixtures stdout") {
            process.inputStream.bufferedReader().forEachLine { line ->
                if (line.isNotBlank()) lines.put(MiniJson.obj(line))
            }
        }
    }

    /** The first announced line matching [predicate]; fails after [timeoutSecs]. */
    fun line(timeoutSecs: Long = 60, predicate: (Map<String, Any?>) -> Boolean): Map<String, Any?> {
        synchronized(seen) { seen.firstOrNull(predicate)?.let { return it } }
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSecs)
        while (true) {
            val left = deadline - System.nanoTime()
            check(left > 0 && process.isAlive || lines.isNotEmpty()) {
                "kluis-fixtures did not announce the expected line (alive: ${process.isAlive})"
            }
            val next = lines.poll(minOf(left, TimeUnit.MILLISECONDS.toNanos(200)), TimeUnit.NANOSECONDS) ?: continue
            synchronized(seen) { seen += next }
            if (predicate(next)) return next
        }
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        runCatching { Runtime.getRuntime().removeShutdownHook(killer) }
    }

    companion object {
        /**
         * Runs `kluis-fixtures <args> --json --port-base N` with N..N+[ports]-1 free on loopback
         * (the network uses N..N+11: holders, scheme, landlord, bank, relay, mandate registry, debt desk).
         */
        fun start(vararg args: String, ports: Int = 12): FixtureProcess {
            val binary = System.getProperty("kluis.fixtures")
                ?: error("system property kluis.fixtures (path of the kluis-fixtures binary) is not set")
            check(File(binary).canExecute()) { "$binary is not executable: build it with cargo build -p kluis-fixtures" }
            // Another process may take a probed port before the fixtures bind it: try a few bases.
            repeat(5) {
                val base = freePortBase(ports)
                val p = ProcessBuilder(listOf(binary) + args + listOf("--json", "--port-base", base.toString()))
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start()
                val fixture = FixtureProcess(p, base)
                // Wait for the first line: a bind failure exits instead of announcing.
                val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
                while (System.nanoTime() < deadline) {
                    if (fixture.lines.isNotEmpty()) return fixture
                    if (!p.isAlive) break
                    Thread.sleep(20)
                }
                fixture.close()
            }
            error("kluis-fixtures ${args.joinToString(" ")} did not start")
        }

        /** A base port such that base until base+count are free on loopback right now. */
        private fun freePortBase(count: Int): Int {
            val loopback = InetAddress.getLoopbackAddress()
            repeat(200) {
                val base = 20000 + (Math.random() * 30000).toInt()
                val sockets = mutableListOf<ServerSocket>()
                try {
                    for (p in base until base + count) sockets += ServerSocket(p, 1, loopback)
                    return base
                } catch (_: java.io.IOException) {
                    // taken: try another base
                } finally {
                    sockets.forEach { it.close() }
                }
            }
            error("no $count consecutive free loopback ports found")
        }
    }
}

/** A small JSON reader for the fixtures' answers: objects as maps, arrays as lists, numbers as Long or Double. */
object MiniJson {
    fun parse(text: String): Any? {
        val p = Parser(text.trim())
        val out = p.value()
        p.end()
        return out
    }

    /** Parses a JSON object. */
    @Suppress("UNCHECKED_CAST")
    fun obj(text: String): Map<String, Any?> = parse(text) as? Map<String, Any?> ?: error("not a JSON object")

    private class Parser(val s: String) {
        var i = 0

        fun value(): Any? {
            ws()
            return when (peek()) {
                '{' -> obj()
                '[' -> arr()
                '"' -> string()
                't' -> word("true", true)
                'f' -> word("false", false)
                'n' -> word("null", null)
                else -> {
                    val start = i
                    while (i < s.length && s[i] in "+-.eE0123456789") i++
                    s.substring(start, i).let { it.toLongOrNull() ?: it.toDouble() }
                }
            }
        }

        fun obj(): Map<String, Any?> {
            expect('{')
            val out = LinkedHashMap<String, Any?>()
            ws()
            if (peek() == '}') { i++; return out }
            while (true) {
                ws(); val key = string(); ws(); expect(':')
                out[key] = value()
                ws()
                when (s[i++]) {
                    ',' -> continue
                    '}' -> return out
                    else -> error("bad JSON at ${i - 1}")
                }
            }
        }

        fun arr(): List<Any?> {
            expect('[')
            val out = ArrayList<Any?>()
            ws()
            if (peek() == ']') { i++; return out }
            while (true) {
                out += value()
                ws()
                when (s[i++]) {
                    ',' -> continue
                    ']' -> return out
                    else -> error("bad JSON at ${i - 1}")
                }
            }
        }

        fun string(): String {
            expect('"')
            val b = StringBuilder()
            while (true) {
                when (val c = s[i++]) {
                    '"' -> return b.toString()
                    '\\' -> when (val e = s[i++]) {
                        'n' -> b.append('\n'); 't' -> b.append('\t'); 'r' -> b.append('\r')
                        'b' -> b.append('\b'); 'f' -> b.append('\u000c')
                        'u' -> { b.append(s.substring(i, i + 4).toInt(16).toChar()); i += 4 }
                        else -> b.append(e)
                    }
                    else -> b.append(c)
                }
            }
        }

        fun word(w: String, v: Any?): Any? {
            check(s.startsWith(w, i)) { "bad JSON at $i" }
            i += w.length
            return v
        }

        fun peek() = s[i]
        fun ws() { while (i < s.length && s[i].isWhitespace()) i++ }
        fun expect(c: Char) { check(s[i++] == c) { "expected '$c' at ${i - 1}" } }
        fun end() { ws(); check(i == s.length) { "trailing text after the JSON value" } }
    }
}

/** Plain HTTP to the fixtures' loopback servers (their web and admin routes). */
object LoopbackHttp {
    fun get(url: String): Pair<Int, String> = call("GET", url, null)

    fun postJson(url: String, body: String): Pair<Int, String> = call("POST", url, body)

    private fun call(method: String, url: String, body: String?): Pair<Int, String> {
        val c = java.net.URI(url).toURL().openConnection() as java.net.HttpURLConnection
        c.requestMethod = method
        c.connectTimeout = 5000
        c.readTimeout = 10000
        if (body != null) {
            c.doOutput = true
            c.setRequestProperty("Content-Type", "application/json")
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val text = (if (status < 400) c.inputStream else c.errorStream)?.bufferedReader()?.readText() ?: ""
        c.disconnect()
        return status to text
    }
}
