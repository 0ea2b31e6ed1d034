package nl.kluis

import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/*
 * The small idiomatic layer over the generated bindings (same package, nl.kluis). Only what is
 * awkward in the generated API lives here; everything else is used as generated.
 */

/**
 * How long the lock screen must wait before the next PIN attempt, as a [Duration]; `null` when
 * the error is not about the PIN. Saves apps from matching two variants and unsigned seconds.
 */
val KluisException.retryAfter: Duration?
    get() = when (this) {
        is KluisException.WrongPin -> retryAfterSecs.toLong().seconds
        is KluisException.LockedOut -> retryAfterSecs.toLong().seconds
        else -> null
    }

/** Attempts left before the wallet's limit as a plain `Int` (`null`: no limit, or not a PIN error). */
val KluisException.attemptsLeftOrNull: Int?
    get() = (this as? KluisException.WrongPin)?.attemptsLeft?.toInt()

/** Whether the app should (again) ask the citizen for the PIN. */
val KluisException.needsPin: Boolean
    get() = this is KluisException.WrongPin || this is KluisException.Locked
