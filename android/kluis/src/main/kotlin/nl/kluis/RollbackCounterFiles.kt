package nl.kluis

import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.nio.file.Files
import java.nio.file.StandardCopyOption

/**
 * The rollback counters a [DeviceKeyStore] keeps (`rollbackCounter` / `raiseRollbackCounter`):
 * one small file per vault in [dir], outside the vault's directory. On Android [dir] is the app's
 * no-backup directory (`Context.noBackupFilesDir`): a device or cloud backup that brings back an
 * older vault file does not bring back an older counter, so the wallet refuses that file
 * (`Integrity`, rolled back). Each value is written to a temporary file, synced and moved into
 * place atomically: a reader sees the old value or the new one, never half of one.
 *
 * What it does not stop (docs/VAULT.md): someone who can write the app's private storage (a rooted
 * phone) and puts back this directory together with the vault file. Android gives apps no
 * monotonic counter in secure hardware.
 */
class RollbackCounterFiles(private val dir: File) {
    /** The counter of [vaultId], or null when none is kept for it. */
    @Synchronized
    fun get(vaultId: String): ULong? = io {
        val f = file(vaultId)
        if (!f.exists()) return@io null
        f.readText().trim().toULongOrNull() ?: throw DeviceKeyStoreException.Io("rollback counter unreadable")
    }

    /** Raises the counter of [vaultId] to [value]; a lower value is ignored. */
    @Synchronized
    fun raise(vaultId: String, value: ULong) = io {
        val current = get(vaultId)
        if (current != null && current >= value) return@io
        if (!dir.isDirectory && !dir.mkdirs()) throw IOException("cannot create the counter directory")
        val tmp = File.createTempFile(".$vaultId.", ".tmp", dir)
        try {
            FileOutputStream(tmp).use { out ->
                out.write(value.toString().toByteArray(Charsets.US_ASCII))
                out.fd.sync()
            }
            Files.move(tmp.toPath(), file(vaultId).toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        } finally {
            tmp.delete()
        }
    }

    /** Forgets the counter of [vaultId] (on wipe, with the device secret). */
    @Synchronized
    fun delete(vaultId: String) = io {
        val f = file(vaultId)
        if (f.exists() && !f.delete()) throw IOException("cannot delete the counter")
    }

    private fun file(vaultId: String): File {
        // Vault ids are hex the core made; anything else could walk out of the directory.
        if (!VAULT_ID.matches(vaultId)) throw DeviceKeyStoreException.Unavailable("invalid vault id")
        return File(dir, "$vaultId.counter")
    }

    /** File errors as the binding's error, naming the kind only (no paths). */
    private inline fun <T> io(block: () -> T): T = try {
        block()
    } catch (e: IOException) {
        throw DeviceKeyStoreException.Io(e.javaClass.simpleName)
    }

    private companion object {
        val VAULT_ID = Regex("[0-9a-fA-F]{1,64}")
    }
}
