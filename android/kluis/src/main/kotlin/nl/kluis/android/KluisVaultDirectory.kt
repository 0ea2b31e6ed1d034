package nl.kluis.android

import android.content.Context
import java.io.File

/**
 * Where an Android app keeps the kluis vault: `noBackupFilesDir/kluis`, which Auto Backup and
 * device-to-device transfer never include (a restored vault meets a device key the Keystore no
 * longer has: `DeviceKeyChanged`). The library's backup rules also exclude `filesDir/kluis` for
 * apps that kept it there. Android only (not compiled by the JVM test run).
 */
object KluisVaultDirectory {
    fun of(context: Context): File = File(context.noBackupFilesDir, "kluis").apply { mkdirs() }
}
